"""Reading a CDC tabular XML (``terminology/tabular.py``) builds the very table simple-icd-10-cm
builds from the same file; without the CDC code list the tabular alone decides the generated
7th-character codes."""

from __future__ import annotations

from cds_service.terminology import codeset
from cds_service.terminology.tabular import parse_tabular

BUNDLED_XML = codeset.package_data_dir() / "icd10c-tabular-April-1-2026.xml"
BUNDLED_CODES = codeset.package_data_dir() / "code-list-April-2026.txt"


def test_reader_builds_the_same_table_as_the_package():
    codes = BUNDLED_CODES.read_text("utf-8").split("\n")
    with BUNDLED_XML.open("rb") as handle:
        version, table = parse_tabular(handle, (line.split(" ")[0] for line in codes))
    assert version == "2026"
    assert table == codeset.bundled()._table


def test_without_a_code_list_the_tabular_alone_decides_7th_characters():
    with BUNDLED_XML.open("rb") as handle:
        _, table = parse_tabular(handle)
    extra = set(table) - set(codeset.bundled()._table)
    # the CDC code list leaves out a few 7th characters sevenChrDef allows (S06 death codes)
    assert extra and all(code.startswith("S06") for code in extra)
    assert set(codeset.bundled()._table) <= set(table)

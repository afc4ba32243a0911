"""The compact ICD-10-CM table answers exactly as simple-icd-10-cm does, and its disk cache is
reused when fresh and rebuilt when missing or damaged."""

from __future__ import annotations

import random

import pytest
import simple_icd_10_cm as cm

from cds_service.terminology import codeset

SAMPLE = sorted(random.Random(20261126).sample(cm.get_all_codes(True), 3000)) + [
    "M99", "M99.03", "M54.5", "M54.50", "S39.012", "S39.012A", "B10.01", "M51.36", "13",
]


@pytest.mark.parametrize("name", ["is_valid_item", "is_leaf", "get_children", "get_parent",
                                  "get_ancestors", "get_description", "get_excludes1"])
def test_table_matches_the_package(name):
    ours, theirs = getattr(codeset, name), getattr(cm, name)
    mismatches = [code for code in SAMPLE if ours(code) != theirs(code)]
    assert mismatches == []


def test_unknown_codes_are_not_valid():
    assert not codeset.is_valid_item("M54.99")
    assert not codeset.is_valid_item("m54.5")


def test_cache_is_written_then_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("CDS_CACHE_DIR", str(tmp_path))
    built = []
    real_build = codeset._build
    monkeypatch.setattr(codeset, "_build", lambda: built.append(1) or real_build())
    first = codeset._load_or_build()
    assert built == [1]
    assert len(list(tmp_path.glob("icd10cm-*.marshal"))) == 1
    second = codeset._load_or_build()
    assert built == [1]  # read from the cache, not rebuilt
    assert second == first


def test_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("CDS_CACHE_DIR", str(tmp_path))
    codeset._load_or_build()
    [path] = tmp_path.glob("icd10cm-*.marshal")
    path.write_bytes(b"\x00garbage")
    table = codeset._load_or_build()
    assert table["M54.50"][2] == "Low back pain, unspecified"


def test_unwritable_cache_folder_still_loads(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CDS_CACHE_DIR", str(blocker / "cache"))
    table = codeset._load_or_build()
    assert "M54.50" in table

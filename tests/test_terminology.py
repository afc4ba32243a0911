"""ICD-10-CM validity on a date of service, replacements, and the ValueSet loader."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from cds_service.data_files import data_dir
from cds_service.facts import Code
from cds_service.terminology import (
    ICD10_WHO_SYSTEM,
    ICD10CM_SYSTEM,
    SNOMED_SYSTEM,
    Terminology,
    TerminologyError,
    get_terminology,
    normalize,
)

ICD = get_terminology().icd
BEFORE_FY2022 = date(2021, 9, 30)
FY2022 = date(2021, 10, 1)
BEFORE_FY2025 = date(2024, 9, 30)
FY2025 = date(2024, 10, 1)
TODAY = date(2026, 11, 20)
# the last day of the bundled release's window (FY2026): past it, a code the bundled release does
# not know is not judged (tests/test_codeset_releases.py)
IN_WINDOW = date(2026, 9, 30)


@pytest.mark.parametrize("raw, expected", [("M545", "M54.5"), (" m54.50 ", "M54.50"),
                                           ("S39012A", "S39.012A"), ("Z98", "Z98")])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "code, day, billable",
    [
        ("M54.5", BEFORE_FY2022, True),
        ("M54.5", FY2022, False),
        ("M54.50", BEFORE_FY2022, False),
        ("M54.50", FY2022, True),
        ("M54.59", TODAY, True),
        ("M51.36", BEFORE_FY2025, True),
        ("M51.36", FY2025, False),
        ("M51.360", BEFORE_FY2025, False),
        ("M51.369", FY2025, True),
        ("M51.363", IN_WINDOW, False),
        ("M54.4", TODAY, False),
        ("M54.41", TODAY, True),
        ("S39.012", TODAY, False),
        ("S39.012A", TODAY, True),
        ("S39.012D", TODAY, True),
        ("Z48.812", TODAY, True),
        ("M54.99", IN_WINDOW, False),
        ("XYZ", TODAY, False),
    ],
)
def test_billable_on_date_of_service(code, day, billable):
    assert ICD.is_billable(code, day) is billable


@pytest.mark.parametrize(
    "code, day, expected",
    [
        ("M54.5", TODAY, ["M54.50", "M54.51", "M54.59"]),
        ("M51.36", TODAY, ["M51.360", "M51.361", "M51.362", "M51.369"]),
        ("M51.37", TODAY, ["M51.370", "M51.371", "M51.372", "M51.379"]),
        ("S39.012", TODAY, ["S39.012A", "S39.012D", "S39.012S"]),
        ("M54.4", TODAY, ["M54.40", "M54.41", "M54.42"]),
        # a code used before it existed: its billable predecessor
        ("M54.50", BEFORE_FY2022, ["M54.5"]),
        ("M51.361", BEFORE_FY2025, ["M51.36"]),
        ("XYZ", TODAY, []),
    ],
)
def test_replacements_are_real_billable_codes(code, day, expected):
    replacements = ICD.replacements(code, day)
    assert replacements == expected
    assert all(ICD.is_billable(r, day) for r in replacements)


def test_retired_and_not_yet_valid_dates():
    assert ICD.retired_on("M54.5", TODAY) == FY2022
    assert ICD.retired_on("M54.5", BEFORE_FY2022) is None
    assert ICD.starts_after("M51.360", BEFORE_FY2025) == FY2025
    assert ICD.starts_after("M51.360", TODAY) is None


@pytest.mark.parametrize(
    "first, second",
    [("M54.50", "M54.41"), ("M54.50", "S39.012A"), ("M54.59", "M51.26"), ("M54.31", "M54.41"),
     ("M54.16", "M51.16"), ("M54.50", "M51.360"), ("M54.30", "M51.17")],
)
def test_excludes1_pairs_from_the_cdc_notes(first, second):
    assert ICD.excludes1_conflict(first, second) is not None
    assert ICD.excludes1_conflict(second, first) is not None


@pytest.mark.parametrize("first, second", [("M54.50", "G89.29"), ("M54.50", "M99.03"),
                                           ("M54.41", "M54.42"), ("M51.16", "Z98.1")])
def test_no_excludes1_between_unrelated_codes(first, second):
    assert ICD.excludes1_conflict(first, second) is None


@pytest.mark.parametrize("system, code, candidates", [
    (SNOMED_SYSTEM, "279039007", ("M54.50",)),
    (SNOMED_SYSTEM, "278860009", ("M54.50",)),  # chronic low back pain, as Synthea records it
    (SNOMED_SYSTEM, "128196005", ("M54.16",)),
    (SNOMED_SYSTEM, "999999999", ()),
    (ICD10_WHO_SYSTEM, "M54.5", ("M54.50",)),  # WHO ICD-10 is not the code set of a US claim
    (ICD10_WHO_SYSTEM, "M545", ("M54.50",)),
    (ICD10_WHO_SYSTEM, "M51.1", ()),  # its ICD-10-CM region is not guessed
    (ICD10CM_SYSTEM, "M54.50", ()),  # a coded code is not a candidate of anything
])
def test_other_code_systems_give_candidates_not_codes(system, code, candidates):
    assert get_terminology().candidate_codes([Code(system, code)]) == candidates


def test_every_concept_map_target_is_a_billable_icd_code():
    store = get_terminology().store
    for url, table in store.concept_maps.items():
        for targets in table.values():
            for target in targets:
                if target.system.endswith("icd-10-cm") and target.code:
                    assert ICD.is_billable(target.code, TODAY), (url, target.code)


@pytest.fixture()
def valueset_copy(tmp_path: Path) -> Path:
    target = tmp_path / "valuesets"
    shutil.copytree(data_dir("valuesets"), target)
    return target


def test_loader_accepts_the_shipped_files(valueset_copy):
    Terminology(valueset_copy)


def test_loader_names_the_file_and_field_of_a_bad_status(valueset_copy):
    bad = {"resourceType": "ValueSet", "url": "https://x.test/vs", "name": "Bad",
           "version": "1", "status": "not-a-status", "compose": {"include": [{"system": "x"}]}}
    (valueset_copy / "zz-bad.json").write_text(json.dumps(bad))
    with pytest.raises(TerminologyError, match=r"zz-bad\.json: status"):
        Terminology(valueset_copy)


def test_loader_names_the_file_and_field_of_a_wrongly_typed_element(valueset_copy):
    bad = {"resourceType": "ValueSet", "url": "https://x.test/vs", "name": "Bad",
           "version": "1", "status": "active", "date": "last tuesday",
           "compose": {"include": [{"system": "x"}]}}
    (valueset_copy / "zz-bad.json").write_text(json.dumps(bad))
    with pytest.raises(TerminologyError, match=r"zz-bad\.json: date"):
        Terminology(valueset_copy)


def test_loader_refuses_a_valueset_without_compose(valueset_copy):
    bad = {"resourceType": "ValueSet", "url": "https://x.test/vs", "name": "Bad",
           "version": "1", "status": "active"}
    (valueset_copy / "zz-bad.json").write_text(json.dumps(bad))
    with pytest.raises(TerminologyError, match=r"zz-bad\.json: compose is required"):
        Terminology(valueset_copy)


def test_loader_refuses_unreadable_json(valueset_copy):
    (valueset_copy / "zz-broken.json").write_text("{ not json")
    with pytest.raises(TerminologyError, match=r"zz-broken\.json: not readable JSON"):
        Terminology(valueset_copy)


def test_loader_refuses_unsupported_filters(valueset_copy):
    bad = {"resourceType": "ValueSet", "url": "https://x.test/vs", "name": "Bad",
           "version": "1", "status": "active",
           "compose": {"include": [{"system": "http://snomed.info/sct", "filter": [
               {"property": "concept", "op": "is-a", "value": "22253000"}]}]}}
    (valueset_copy / "zz-bad.json").write_text(json.dumps(bad))
    with pytest.raises(TerminologyError, match=r"zz-bad\.json: compose.include\[0\].filter\[0\]"):
        Terminology(valueset_copy)


def test_valueset_membership_with_filters_and_nesting(valueset_copy):
    parent = {"resourceType": "ValueSet", "url": "https://x.test/vs/a", "name": "A",
              "version": "1", "status": "active", "compose": {"include": [
                  {"system": "http://hl7.org/fhir/sid/icd-10-cm",
                   "filter": [{"property": "concept", "op": "is-a", "value": "M54.4"}]},
                  {"system": "http://snomed.info/sct", "concept": [{"code": "23056005"}]}]}}
    child = {"resourceType": "ValueSet", "url": "https://x.test/vs/b", "name": "B",
             "version": "1", "status": "active", "compose": {
                 "include": [{"valueSet": ["https://x.test/vs/a"]}],
                 "exclude": [{"system": "http://hl7.org/fhir/sid/icd-10-cm",
                              "concept": [{"code": "M54.40"}]}]}}
    (valueset_copy / "zz-a.json").write_text(json.dumps(parent))
    grandchild = {"resourceType": "ValueSet", "url": "https://x.test/vs/c", "name": "C",
                  "version": "1", "status": "active",
                  "compose": {"include": [{"valueSet": ["https://x.test/vs/b"]}]}}
    (valueset_copy / "zz-b.json").write_text(json.dumps(child))
    (valueset_copy / "zz-c.json").write_text(json.dumps(grandchild))
    terms = Terminology(valueset_copy)
    icd = "http://hl7.org/fhir/sid/icd-10-cm"
    assert terms.in_valueset("A", icd, "M54.41")
    assert terms.in_valueset("A", icd, "m5442")
    assert not terms.in_valueset("A", icd, "M54.50")
    assert terms.in_valueset("B", icd, "M54.42")
    assert terms.in_valueset("B", SNOMED_SYSTEM, "23056005")
    assert not terms.in_valueset("B", icd, "M54.40")
    # an exclusion inside a nested ValueSet still holds when the nested set is included
    assert terms.in_valueset("C", icd, "M54.41")
    assert not terms.in_valueset("C", icd, "M54.40")

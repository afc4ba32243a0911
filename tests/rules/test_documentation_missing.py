"""[documentation-missing]: nonspecific low back pain (M54.50) whose record lacks an element of
support (location, onset, character/severity, associated symptoms, exam, assessment). Its
``evaluate(facts, terminology)`` on a table of records, then whole requests through to the
card."""

from __future__ import annotations

import pytest

from cds_service.rules import documentation_missing
from tests.builders import (
    FULL_NOTE,
    cards_of,
    condition,
    request,
)
from tests.rules.diagnosis_cards import only
from tests.rules.facts_tables import diagnosis_facts, terminology

# -- evaluate(facts, terminology) on tables of facts -----------------------------------------------
ALL = ["location", "onset", "character_severity", "associated_symptoms", "exam", "assessment"]


@pytest.mark.parametrize("icd, note, documented, missing", [
    pytest.param("M54.50", None, False, ALL, id="nothing-documented"),
    pytest.param("M54.50", FULL_NOTE, True, None, id="everything-documented"),
    pytest.param("M54.50", "Assessment: nonspecific low back pain.", True,
                 ["associated_symptoms"], id="structured-elements-and-assessment"),
    pytest.param("M54.41", None, False, None, id="specific-code"),
    pytest.param("S39.012A", None, False, None, id="injury-code"),
    pytest.param("I10", None, False, None, id="not-low-back-pain"),
])
def test_evaluate_on_a_table_of_records(icd, note, documented, missing):
    facts = diagnosis_facts(condition(icd=icd, note=note, documented=documented))
    found = documentation_missing.evaluate(facts, terminology())
    if missing is None:
        assert found == []
        return
    [finding] = found
    assert (finding.rule_id, finding.target, finding.indicator) == (
        documentation_missing.RULE_ID, "Condition/c1", None)
    assert finding.params["missing"] == missing
    assert finding.suggestions == []


# -- whole requests, through the pipeline to the card ---------------------------------------------
PARTS = {
    "onset": "Low back pain for 5 weeks.",
    "character_severity": "Dull and intermittent.",
    "associated_symptoms": "Denies numbness, tingling or leg weakness.",
    "exam": "Exam: paraspinal tenderness, flexion limited.",
    "assessment": "Assessment: nonspecific low back pain.",
}


def test_documentation_missing_quiet_when_everything_is_there():
    assert cards_of(request(condition(note=FULL_NOTE)), "documentation-missing") == []
    assert cards_of(request(condition(note=list(PARTS.values()))),
                    "documentation-missing") == []


def test_documentation_missing_lists_every_element_when_nothing_is_documented():
    card = only(request(condition(documented=False)), "documentation-missing")
    assert card["indicator"] == "info"
    assert card["summary"] == ("M54.50 lacks support: document location, onset, "
                               "character/severity, associated symptoms, exam, assessment")
    assert "suggestions" not in card


@pytest.mark.parametrize(
    "missing, kwargs",
    [
        ("location", {"body_site": False}),
        ("onset", {"onset": ""}),
        ("character_severity", {"severity": False}),
        ("associated_symptoms", {}),
        ("exam", {"evidence_detail": False}),
        ("assessment", {}),
    ],
)
def test_documentation_missing_names_exactly_the_missing_element(missing, kwargs):
    note = [text for element, text in PARTS.items() if element != missing]
    card = only(request(condition(note=note, **kwargs)), "documentation-missing")
    names = {"location": "location", "onset": "onset", "character_severity":
             "character/severity", "associated_symptoms": "associated symptoms",
             "exam": "exam", "assessment": "assessment"}
    assert card["summary"] == f"M54.50 lacks support: document {names[missing]}"


def test_documentation_missing_counts_denied_symptoms_as_documented():
    note = ["No numbness.", *[t for e, t in PARTS.items() if e != "associated_symptoms"]]
    assert cards_of(request(condition(note=note)), "documentation-missing") == []


@pytest.mark.parametrize("said", [
    "No radiation.", "Pain stays in the low back without radiation.",
    "Pain radiates to the left buttock.", "Denies sciatica.",
])
def test_documentation_missing_counts_radiating_pain_as_an_associated_symptom(said):
    """coding-facts.md §6b: numbness, tingling, weakness and radiating pain are the symptoms."""
    note = [said, *[t for e, t in PARTS.items() if e != "associated_symptoms"]]
    assert cards_of(request(condition(note=note)), "documentation-missing") == []


@pytest.mark.parametrize("said", [
    "Exam deferred.", "Physical exam not performed today.", "Exam: declined by patient.",
])
def test_documentation_missing_does_not_count_an_exam_not_done(said):
    note = [said, *[t for e, t in PARTS.items() if e != "exam"]]
    card = only(request(condition(note=note, evidence_detail=False)), "documentation-missing")
    assert card["summary"] == "M54.50 lacks support: document exam"


def test_documentation_missing_for_a_snomed_only_diagnosis():
    card = only(request(condition(icd=None, snomed="279039007", documented=False)),
                "documentation-missing")
    # named by its concept's words, never by a bare number
    assert card["summary"].startswith("Low back pain (finding) lacks support")
    assert "279039007" not in card["summary"]


@pytest.mark.parametrize("code", ["M54.41", "M51.16", "S39.012A", "I10"])
def test_documentation_missing_only_for_nonspecific_low_back_pain(code):
    assert cards_of(request(condition(icd=code, documented=False)),
                    "documentation-missing") == []

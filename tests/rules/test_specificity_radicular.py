"""[specificity-radicular]: nonspecific low back pain (M54.5-) whose record documents radiating
pain or radiculopathy gets the code for its side and kind (M54.4-, M54.1-). Its
``evaluate(facts, terminology)`` on a table of notes, then whole requests through to the card."""

from __future__ import annotations

import pytest

from cds_service.rules import specificity_radicular
from cds_service.terminology import ICD10CM_SYSTEM, SNOMED_SYSTEM
from tests.builders import (
    FULL_NOTE,
    ORDER_SIGN,
    cards_of,
    condition,
    encounter,
    first_codes,
    request,
    suggested_codes,
    topic,
)
from tests.rules.diagnosis_cards import IN_2021, actions, checked, only
from tests.rules.facts_tables import diagnosis_facts, outcome, terminology

# -- evaluate(facts, terminology) on tables of facts -----------------------------------------------
FIRES = "Condition/c1"


@pytest.mark.parametrize("icd, note, day, hook, expected", [
    pytest.param("M54.50", "Right-sided sciatica since Monday.", "2026-11-20",
                 "encounter-discharge", [(FIRES, ["M54.41"], None)], id="right-sciatica"),
    pytest.param("M54.50", "LBP radiating down the left leg to the foot.", "2026-11-20",
                 "encounter-discharge", [(FIRES, ["M54.42"], None)], id="left-leg"),
    pytest.param("M54.50", "Low back pain with sciatica.", "2026-11-20", "encounter-discharge",
                 [(FIRES, ["M54.40"], None)], id="side-not-stated"),
    pytest.param("M54.50", "Assessment: lumbar radiculopathy, L4.", "2026-11-20",
                 "encounter-discharge", [(FIRES, ["M54.16"], None)], id="lumbar-radiculopathy"),
    pytest.param("M54.50", "Radiculopathy.", "2026-11-20", "encounter-discharge",
                 [(FIRES, ["M54.16", "M54.17"], None)], id="region-not-stated"),
    pytest.param("M54.5", "Sciatica on the right.", "2021-06-01", "encounter-discharge",
                 [(FIRES, ["M54.41"], None)], id="2021-replaces-m54.5"),
    pytest.param("M54.50", "Left sciatica.", "2026-11-20", "order-sign",
                 [(FIRES, ["M54.42"], None)], id="order-sign"),
    pytest.param("M54.50", "No radicular symptoms. Negative straight leg raise bilaterally.",
                 "2026-11-20", "encounter-discharge", [], id="denied"),
    pytest.param("M54.50", "Possible sciatica, will reassess.", "2026-11-20",
                 "encounter-discharge", [], id="doubted"),
    pytest.param("M54.50", "Sciatica has resolved.", "2026-11-20", "encounter-discharge", [],
                 id="resolved"),
    pytest.param("M54.50", FULL_NOTE, "2026-11-20", "encounter-discharge", [],
                 id="documented-nonspecific"),
    pytest.param("M54.41", "Right sciatica.", "2026-11-20", "encounter-discharge", [],
                 id="already-specific"),
    pytest.param("I10", "Right sciatica.", "2026-11-20", "encounter-discharge", [],
                 id="not-low-back-pain"),
])
def test_evaluate_on_a_table_of_notes(icd, note, day, hook, expected):
    facts = diagnosis_facts(condition(icd=icd, note=note, recorded=None), day=day, hook=hook)
    found = specificity_radicular.evaluate(facts, terminology())
    assert outcome(found, specificity_radicular.RULE_ID) == expected


# -- whole requests, through the pipeline to the card ---------------------------------------------
@pytest.mark.parametrize(
    "note, expected",
    [
        ("Two weeks of low back pain with shooting pain down the back of the right leg. "
         "Assessment: low back pain with right sciatica.", ["M54.41"]),
        ("LBP radiating down the left leg to the foot.", ["M54.42"]),
        ("Pain radiates to L leg.", ["M54.42"]),
        ("Right-sided sciatica since Monday.", ["M54.41"]),
        ("Burning pain in the left calf with the back pain.", ["M54.42"]),
        ("Low back pain with sciatica.", ["M54.40"]),
        ("Radicular pain, side not stated.", ["M54.40"]),
        ("Assessment: lumbar radiculopathy, L4.", ["M54.16"]),
        ("Assessment: lumbosacral radiculopathy on the left.", ["M54.17"]),
        ("Radiculopathy.", ["M54.16", "M54.17"]),
    ],
)
def test_radicular_fires_with_the_code_for_the_side_and_kind(note, expected):
    card = only(request(condition(note=note)), "specificity-radicular")
    assert card["indicator"] == "warning"
    assert first_codes(card) == expected
    action = actions(card)[0]
    assert action["type"] == "update"
    assert action["resource"]["id"] == "c1"
    assert expected[0] in action["description"] and "M54.50" in action["description"]


def test_radicular_without_a_side_prompts_to_document_it():
    card = only(request(condition(note="Low back pain with sciatica.")), "specificity-radicular")
    assert "document right or left" in card["summary"]
    assert "document the side" in card["suggestions"][0]["label"]


def test_radicular_bilateral_codes_both_sides():
    note = "Pain radiates into both legs, worse on standing."
    card = only(request(condition(note=note)), "specificity-radicular")
    [suggestion] = card["suggestions"]
    update, create = suggestion["actions"]
    assert update["type"] == "update" and update["resource"]["id"] == "c1"
    assert create["type"] == "create"
    assert create["resource"]["encounter"] == {"reference": "Encounter/e1"}
    assert create["resource"]["subject"] == {"reference": "Patient/p1"}
    assert suggested_codes(card) == [["M54.41", "M54.42"]]


def test_radicular_from_the_encounter_reason_and_the_evidence():
    body = request(condition(), enc=encounter(reason_text="Back pain radiating to right leg"))
    assert first_codes(only(body, "specificity-radicular")) == ["M54.41"]
    body = request(condition(evidence_codes=[(SNOMED_SYSTEM, "23056005", "Sciatica")]))
    assert first_codes(only(body, "specificity-radicular")) == ["M54.40"]


def test_radicular_merges_sciatica_coded_on_another_condition():
    body = request(condition("c1"), condition("c2", "M54.32"))
    card = only(body, "specificity-radicular")
    update, delete = actions(card)
    assert update["type"] == "update" and update["resource"]["id"] == "c1"
    assert [c["code"] for c in update["resource"]["code"]["coding"]] == ["M54.42"]
    assert delete == {"type": "delete", "resourceId": "Condition/c2",
                      "description": delete["description"]}
    assert "M54.32" in delete["description"]


def test_radicular_merges_a_sciatica_code_on_the_same_condition():
    card = only(request(condition(icd=["M54.50", "M54.31"])), "specificity-radicular")
    [update] = actions(card)
    assert [c["code"] for c in update["resource"]["code"]["coding"]] == ["M54.41"]
    assert "Replace M54.50, M54.31 with M54.41" in update["description"]


def test_radicular_region_from_an_evidence_code():
    body = request(condition(evidence_codes=[(SNOMED_SYSTEM, "2415007", None)]))
    assert first_codes(only(body, "specificity-radicular")) == ["M54.17"]


def test_radicular_on_a_snomed_only_diagnosis_adds_the_icd_code():
    body = request(condition(icd=None, snomed="279039007", note="Sciatica on the right."))
    card = only(body, "specificity-radicular")
    coding = actions(card)[0]["resource"]["code"]["coding"]
    assert [(c["system"], c["code"]) for c in coding] == [
        (SNOMED_SYSTEM, "279039007"), (ICD10CM_SYSTEM, "M54.41")]
    assert actions(card)[0]["description"].startswith("Add ICD-10-CM M54.41")


@pytest.mark.parametrize(
    "note",
    [
        "Pain stays in the low back without radiation. Denies numbness.",
        "No radicular symptoms. Negative straight leg raise bilaterally.",
        "Denies radiating pain, numbness, tingling, or weakness in the legs.",
        "He has had no sciatica. SLR negative.",
        "Possible sciatica, will reassess.",
        "Rule out lumbar radiculopathy.",
        "Family history of sciatica.",
        "Sciatica has resolved.",
        "Pain radiating to the abdomen.",
        "Knee pain from osteoarthritis.",
        FULL_NOTE,
    ],
)
def test_radicular_quiet_when_the_text_denies_or_doubts_it(note):
    assert cards_of(request(condition(note=note)), "specificity-radicular") == []


@pytest.mark.parametrize("specific", ["M54.41", "M54.16", "M51.16", "M47.27", "M51.362"])
def test_radicular_quiet_when_a_specific_code_is_already_there(specific):
    body = request(condition("c1", note="Right sciatica."), condition("c2", specific))
    assert cards_of(body, "specificity-radicular") == []


def test_radicular_on_an_earlier_date_of_service_replaces_the_code_then_in_force():
    body = request(condition(icd="M54.5", note="Sciatica on the right.", recorded=None),
                   enc=encounter(start=IN_2021))
    found = [c for c in checked(body) if topic(c) != "documentation-missing"]
    assert [topic(c) for c in found] == ["specificity-radicular"]  # M54.5 was billable then
    assert "Replace M54.5 with M54.41" in actions(found[0])[0]["description"]


def test_radicular_ignores_the_notes_of_an_earlier_encounter():
    body = request(condition("c1"), condition("old", "M54.50", encounter="e0",
                                              recorded="2025-01-01", note="Right sciatica."))
    assert cards_of(body, "specificity-radicular") == []


def test_radicular_runs_on_order_sign_too():
    body = request(condition(note="Left sciatica."), hook="order-sign")
    found = checked(body, ORDER_SIGN)
    assert [first_codes(c) for c in found if topic(c) == "specificity-radicular"] == [["M54.42"]]

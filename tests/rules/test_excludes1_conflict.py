"""[excludes1-conflict]: two codes on the encounter that an Excludes1 note forbids together;
the code the record points to is kept, the other removed. Its ``evaluate(facts, terminology)``
on a table of code pairs, then whole requests through to the card."""

from __future__ import annotations

import pytest

from cds_service.rules import excludes1_conflict
from cds_service.terminology import ICD10CM_SYSTEM, SNOMED_SYSTEM
from tests.builders import (
    cards_of,
    condition,
    encounter,
    request,
)
from tests.rules.diagnosis_cards import IN_2021, actions, only
from tests.rules.facts_tables import deleted, diagnosis_facts, terminology


# -- evaluate(facts, terminology) on tables of facts -----------------------------------------------
@pytest.mark.parametrize("first, second, day, removed", [
    pytest.param("M54.50", "M54.41", "2026-11-20", ["Condition/c1"], id="lbp-with-sciatica"),
    pytest.param("M54.50", "S39.012A", "2026-11-20", ["Condition/c1"], id="lbp-with-strain"),
    pytest.param("M54.16", "M51.16", "2026-11-20", ["Condition/c1"],
                 id="radiculopathy-with-disc"),
    pytest.param("M79.2", "M54.31", "2026-11-20", ["Condition/c1"], id="neuralgia-with-sciatica"),
    pytest.param("M54.5", "M54.41", "2021-06-01", ["Condition/c1"], id="2021-m54.5"),
    pytest.param("S33.5XXA", "M51.26", "2026-11-20", ["Condition/c1", "Condition/c2"],
                 id="between-chapters-both-choices"),
    pytest.param("M54.50", "G89.29", "2026-11-20", None, id="chronic-pain-goes-along"),
    pytest.param("M54.41", "M54.42", "2026-11-20", None, id="both-sides"),
    pytest.param("M54.50", "M54.51", "2026-11-20", None, id="m54.5-siblings"),
    pytest.param("M54.50", "Z98.1", "2026-11-20", None, id="status-code"),
])
def test_evaluate_on_a_table_of_code_pairs(first, second, day, removed):
    facts = diagnosis_facts(condition("c1", first, documented=False, recorded=None),
                            condition("c2", second, documented=False, recorded=None), day=day)
    found = excludes1_conflict.evaluate(facts, terminology())
    if removed is None:
        assert found == []
        return
    [finding] = found
    assert finding.rule_id == excludes1_conflict.RULE_ID
    assert finding.indicator is None
    assert deleted(finding) == removed


def test_evaluate_on_one_condition_updates_it_without_the_dropped_code():
    facts = diagnosis_facts(condition("c1", ["M54.50", "M54.41"], snomed="279039007"))
    [finding] = excludes1_conflict.evaluate(facts, terminology())
    assert finding.target == "Condition/c1"
    [action] = finding.suggestions[0].actions
    assert action.type == "update"
    assert [c["code"] for c in action.resource["code"]["coding"]] == ["M54.41", "279039007"]


def test_evaluate_ignores_conditions_of_other_encounters():
    facts = diagnosis_facts(condition("c1", "M54.50"),
                            condition("old", "M54.41", encounter="e0", recorded="2025-01-01"))
    assert excludes1_conflict.evaluate(facts, terminology()) == []


# -- whole requests, through the pipeline to the card ---------------------------------------------
@pytest.mark.parametrize(
    "first, second, keep",
    [("M54.50", "M54.41", "M54.41"), ("M54.50", "S39.012A", "S39.012A"),
     ("M54.50", "M51.26", "M51.26"), ("M54.31", "M54.41", "M54.41"),
     ("M54.16", "M51.16", "M51.16"), ("M54.41", "M51.16", "M51.16"),
     ("M54.59", "M54.42", "M54.42"), ("M54.30", "M51.17", "M51.17"),
     ("M79.2", "M54.31", "M54.31")],
)
def test_excludes1_conflict_keeps_the_code_the_note_points_to(first, second, keep):
    body = request(condition("c1", first, documented=False),
                   condition("c2", second, documented=False))
    card = only(body, "excludes1-conflict")
    assert card["indicator"] == "warning"
    drop, dropped_id = (first, "Condition/c1") if keep == second else (second, "Condition/c2")
    assert f"keep {keep}, remove {drop}" in card["summary"]
    [suggestion] = card["suggestions"]
    assert suggestion["actions"] == [{"type": "delete", "resourceId": dropped_id,
                                      "description": suggestion["actions"][0]["description"]}]
    assert drop in suggestion["actions"][0]["description"]


@pytest.mark.parametrize(
    "first, second",
    [("M54.50", "G89.29"), ("M54.50", "M99.03"), ("M54.41", "M54.42"), ("M54.50", "M54.16"),
     ("M54.50", "Z98.1"), ("M51.16", "M51.17"), ("M54.50", "M54.51"), ("M54.50", "S33.5XXA")],
)
def test_excludes1_conflict_quiet_for_codes_that_may_go_together(first, second):
    body = request(condition("c1", first, documented=False),
                   condition("c2", second, documented=False))
    assert cards_of(body, "excludes1-conflict") == []


def test_excludes1_conflict_on_one_condition_updates_it_without_the_dropped_code():
    body = request(condition("c1", ["M54.50", "M54.41"], snomed="279039007"))
    card = only(body, "excludes1-conflict")
    [action] = actions(card)
    assert action["type"] == "update"
    assert action["resource"]["id"] == "c1"
    assert [(c["system"], c["code"]) for c in action["resource"]["code"]["coding"]] == [
        (ICD10CM_SYSTEM, "M54.41"), (SNOMED_SYSTEM, "279039007")]


def test_excludes1_conflict_between_chapters_offers_both_choices():
    # S33 Excludes1 "nontraumatic ... displacement of lumbar intervertebral disc (M51.-)": a
    # sprain and a disc displacement may be unrelated, so the coder chooses
    body = request(condition("c1", "S33.5XXA"), condition("c2", "M51.26"))
    card = only(body, "excludes1-conflict")
    deleted = [a["resourceId"] for s in card["suggestions"] for a in s["actions"]]
    assert deleted == ["Condition/c1", "Condition/c2"]
    assert card["suggestions"][0].get("isRecommended") is True
    assert card["selectionBehavior"] == "at-most-one"


def test_excludes1_conflict_on_an_earlier_date_of_service():
    # M54.5 was billable in 2021, and its Excludes1 for M54.4- applied then too
    body = request(condition("c1", "M54.5", recorded=None), condition("c2", "M54.41"),
                   enc=encounter(start=IN_2021))
    card = only(body, "excludes1-conflict")
    assert actions(card)[0]["resourceId"] == "Condition/c1"
    assert cards_of(body, "invalid-code") == []


def test_excludes1_conflict_ignores_conditions_of_other_encounters():
    body = request(condition("c1", "M54.50"),
                   condition("old", "M54.41", encounter="e0", recorded="2025-01-01"))
    assert cards_of(body, "excludes1-conflict") == []

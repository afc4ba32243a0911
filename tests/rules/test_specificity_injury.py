"""[specificity-injury]: low back pain whose record documents a lumbar strain or sprain gets the
injury code (S39.012-, S33.5XX-) with its 7th character. Its ``evaluate(facts, terminology)``
on a table of notes, then whole requests through to the card."""

from __future__ import annotations

import pytest

from cds_service.rules import specificity_injury
from tests.builders import (
    FULL_NOTE,
    cards_of,
    condition,
    encounter,
    first_codes,
    request,
)
from tests.rules.diagnosis_cards import actions, only
from tests.rules.facts_tables import diagnosis_facts, outcome, terminology

# -- evaluate(facts, terminology) on tables of facts -----------------------------------------------
FIRES = "Condition/c1"


@pytest.mark.parametrize("note, reason, expected", [
    pytest.param("Lumbar strain after lifting a heavy box yesterday.", None,
                 [(FIRES, ["S39.012A"], None)], id="strain"),
    pytest.param("Lumbar sprain from a twisting injury.", None,
                 [(FIRES, ["S33.5XXA"], None)], id="sprain"),
    pytest.param("Returns for follow-up of lumbar strain, improving with PT.", None,
                 [(FIRES, ["S39.012D"], None)], id="subsequent-encounter"),
    pytest.param("Acute lumbosacral sprain/strain.", None,
                 [(FIRES, ["S39.012A", "S33.5XXA"], None)], id="sprain-or-strain"),
    pytest.param("Slipped and fell on ice two days ago.", None,
                 [(FIRES, ["S39.012A", "S33.5XXA"], "info")], id="mechanism-alone-prompts"),
    pytest.param(None, "Back strain at work", [(FIRES, ["S39.012A"], None)],
                 id="encounter-reason"),
    pytest.param("Denies any injury or fall. Pain worse with lifting.", None, [], id="denied"),
    pytest.param("Pain when lifting a box at work.", None, [], id="lifting-is-no-injury"),
    pytest.param("No trauma.", None, [], id="no-trauma"),
    pytest.param(FULL_NOTE, None, [], id="documented-nonspecific"),
])
def test_evaluate_on_a_table_of_notes(note, reason, expected):
    facts = diagnosis_facts(condition(note=note), reason=reason)
    found = specificity_injury.evaluate(facts, terminology())
    assert outcome(found, specificity_injury.RULE_ID) == expected


@pytest.mark.parametrize("earlier, expected", [
    pytest.param(condition("old", "S39.012A", encounter="e0", recorded="2026-10-30"),
                 [(FIRES, ["S39.012D"], None)], id="diagnosed-before-is-later-care"),
    pytest.param(condition("old", "S39.012A", encounter="e9", recorded="2026-12-15",
                           documented=False), [], id="recorded-after-the-visit"),
    pytest.param(condition("old", "S39.012A", encounter="e0", recorded="2026-01-10",
                           clinical_status="resolved"), [], id="resolved-earlier"),
])
def test_evaluate_with_an_injury_of_another_encounter(earlier, expected):
    facts = diagnosis_facts(condition("c1"), earlier)
    found = specificity_injury.evaluate(facts, terminology())
    assert outcome(found, specificity_injury.RULE_ID) == expected


# -- whole requests, through the pipeline to the card ---------------------------------------------
@pytest.mark.parametrize(
    "note, expected",
    [
        ("Lumbar strain after lifting a heavy box yesterday.", ["S39.012A"]),
        ("Pulled his back lifting a couch.", ["S39.012A"]),
        ("Lumbar sprain from a twisting injury.", ["S33.5XXA"]),
        ("Returns for follow-up of lumbar strain, improving with PT.", ["S39.012D"]),
        ("Acute lumbosacral sprain/strain.", ["S39.012A", "S33.5XXA"]),
    ],
)
def test_injury_fires_with_the_code_and_7th_character(note, expected):
    card = only(request(condition(note=note)), "specificity-injury")
    assert card["indicator"] == "warning"
    assert first_codes(card) == expected
    assert actions(card)[0]["type"] == "update"
    assert "M54.50" in actions(card)[0]["description"]


def test_injury_mechanism_alone_offers_strain_or_sprain_as_a_prompt():
    card = only(request(condition(note="Slipped and fell on ice two days ago.")),
                "specificity-injury")
    assert card["indicator"] == "info"
    assert first_codes(card) == ["S39.012A", "S33.5XXA"]
    assert "document" in card["summary"]


def test_injury_from_the_encounter_reason():
    body = request(condition(), enc=encounter(reason_text="Back strain at work"))
    assert first_codes(only(body, "specificity-injury")) == ["S39.012A"]


def test_injury_diagnosed_at_an_earlier_visit_is_later_care():
    earlier = condition("old", "S39.012A", encounter="e0", recorded="2026-10-30")
    card = only(request(condition("c1"), earlier), "specificity-injury")
    assert first_codes(card) == ["S39.012D"]


def test_injury_recorded_after_the_date_of_service_does_not_count():
    later = condition("old", "S39.012A", encounter="e9", recorded="2026-12-15",
                      documented=False)
    assert cards_of(request(condition("c1"), later), "specificity-injury") == []


def test_injury_resolved_earlier_does_not_count():
    earlier = condition("old", "S39.012A", encounter="e0", recorded="2026-01-10",
                        clinical_status="resolved")
    assert cards_of(request(condition("c1"), earlier), "specificity-injury") == []


@pytest.mark.parametrize(
    "note",
    ["Denies any injury or fall. Pain worse with lifting.",
     "Pain when lifting a box at work.", "No trauma.", FULL_NOTE,
     "Started in the fall, no injury.", "Fall risk assessed, low."],
)
def test_injury_quiet_when_the_text_denies_it(note):
    assert cards_of(request(condition(note=note)), "specificity-injury") == []


def test_injury_quiet_when_the_injury_is_coded_and_excludes1_speaks():
    body = request(condition("c1", note="Lumbar strain."), condition("c2", "S39.012A"))
    assert cards_of(body, "specificity-injury") == []
    assert len(cards_of(body, "excludes1-conflict")) == 1

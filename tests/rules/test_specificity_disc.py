"""[specificity-disc]: low back pain whose record documents a disc herniation or degeneration
gets the M51.- code for its kind, pain pattern and level. Its ``evaluate(facts, terminology)``
on a table of notes, then whole requests through to the card."""

from __future__ import annotations

import pytest

from cds_service.rules import specificity_disc
from tests.builders import (
    cards_of,
    condition,
    encounter,
    first_codes,
    request,
)
from tests.rules.diagnosis_cards import IN_2023, actions, all_codes, checked, only
from tests.rules.facts_tables import deleted, diagnosis_facts, outcome, terminology

# -- evaluate(facts, terminology) on tables of facts -----------------------------------------------
FIRES = "Condition/c1"


@pytest.mark.parametrize("icd, note, day, expected", [
    pytest.param("M54.50", "MRI shows L4-5 disc herniation. No radiation.", "2026-11-20",
                 [(FIRES, ["M51.26"], None)], id="herniation-axial-lumbar"),
    pytest.param("M54.50", "HNP L5-S1 with left sciatica.", "2026-11-20",
                 [(FIRES, ["M51.17"], None)], id="herniation-radicular-lumbosacral"),
    pytest.param("M54.50", "Disc herniation.", "2026-11-20",
                 [(FIRES, ["M51.26", "M51.27"], None)], id="level-not-stated"),
    pytest.param("M54.50", "Degenerative disc disease at L4-5; pain is axial only, no "
                 "radiation.", "2026-11-20", [(FIRES, ["M51.360"], None)],
                 id="degeneration-fy2025-on"),
    pytest.param("M54.50", "Degenerative disc disease L4-5, no radiation.", "2023-05-02",
                 [(FIRES, ["M51.36"], None)], id="degeneration-before-fy2025"),
    pytest.param(["M54.50", "M51.369"], "Pain stays in the low back.", "2026-11-20",
                 [(FIRES, ["M51.360"], None)], id="merges-degeneration-code"),
    pytest.param("M54.50", "No disc herniation on MRI.", "2026-11-20", [], id="denied"),
    pytest.param("M54.50", "Possible disc herniation, MRI pending.", "2026-11-20", [],
                 id="doubted"),
    pytest.param("M54.50", "Multilevel degenerative changes of the facets.", "2026-11-20", [],
                 id="not-the-disc"),
    pytest.param("M51.26", "L4-5 disc herniation.", "2026-11-20", [], id="already-specific"),
])
def test_evaluate_on_a_table_of_notes(icd, note, day, expected):
    facts = diagnosis_facts(condition(icd=icd, note=note, recorded=None), day=day)
    found = specificity_disc.evaluate(facts, terminology())
    assert outcome(found, specificity_disc.RULE_ID) == expected


def test_evaluate_merges_sciatica_coded_on_another_condition():
    facts = diagnosis_facts(condition("c1", note="L4-5 herniated disc."),
                            condition("c2", "M54.31"))
    [finding] = specificity_disc.evaluate(facts, terminology())
    assert outcome([finding], specificity_disc.RULE_ID) == [(FIRES, ["M51.16"], None)]
    assert deleted(finding) == ["Condition/c2"]


# -- whole requests, through the pipeline to the card ---------------------------------------------
@pytest.mark.parametrize(
    "note, expected",
    [
        ("MRI shows L4-5 disc herniation. No radiation.", ["M51.26"]),
        ("Herniated nucleus pulposus at L5-S1, pain stays in the back.", ["M51.27"]),
        ("Disc herniation.", ["M51.26", "M51.27"]),
        ("L4-5 disc herniation with pain radiating down the right leg.", ["M51.16"]),
        ("HNP L5-S1 with left sciatica.", ["M51.17"]),
        ("Degenerative disc disease at L4-5; pain is axial only, no radiation.", ["M51.360"]),
        ("L5-S1 disc degeneration.", ["M51.370"]),
        ("DDD L4-L5 with pain radiating to the left thigh.", ["M51.362", "M51.16"]),
        ("Lumbar radiculopathy from degenerative disc disease at L4-5.", ["M51.16"]),  # M51.1- only
    ],
)
def test_disc_fires_with_the_code_for_kind_pattern_and_level(note, expected):
    found = checked(request(condition(note=note)))
    card = only(request(condition(note=note)), "specificity-disc")
    assert first_codes(card) == expected
    assert actions(card)[0]["type"] == "update"
    # M54.4 Excludes1 M51.1-: the radicular rule does not also suggest lumbago with sciatica
    assert not [c for c in all_codes(found) if c.startswith("M54.4")]
    assert cards_of(request(condition(note=note)), "specificity-radicular") == []


def test_disc_degeneration_before_fy2025_uses_the_code_then_billable():
    body = request(condition(note="Degenerative disc disease L4-5, no radiation."),
                   enc=encounter(start=IN_2023))
    card = only(body, "specificity-disc")
    assert first_codes(card) == ["M51.36"]


def test_disc_merges_a_degeneration_code_without_pain_pattern():
    body = request(condition("c1", note="Pain stays in the low back."), condition("c2", "M51.369"))
    card = only(body, "specificity-disc")
    update, delete = actions(card)
    assert [c["code"] for c in update["resource"]["code"]["coding"]] == ["M51.360"]
    assert delete["resourceId"] == "Condition/c2"


def test_disc_merges_a_degeneration_code_on_the_same_condition():
    card = only(request(condition(icd=["M54.50", "M51.369"])), "specificity-disc")
    [update] = actions(card)
    assert [c["code"] for c in update["resource"]["code"]["coding"]] == ["M51.360"]


def test_disc_with_radicular_merges_sciatica_coded_apart():
    body = request(condition("c1", note="L4-5 herniated disc."), condition("c2", "M54.31"))
    card = only(body, "specificity-disc")
    assert first_codes(card) == ["M51.16"]
    assert actions(card)[1]["resourceId"] == "Condition/c2"


@pytest.mark.parametrize(
    "note", ["No disc herniation on MRI.", "Possible disc herniation, MRI pending.",
             "Multilevel degenerative changes of the facets."])
def test_disc_quiet_when_the_text_denies_or_doubts_it(note):
    assert cards_of(request(condition(note=note)), "specificity-disc") == []


@pytest.mark.parametrize("specific", ["M51.26", "M51.16", "M51.360", "M51.A1"])
def test_disc_quiet_when_a_specific_disc_code_is_there(specific):
    body = request(condition("c1", note="L4-5 disc herniation."), condition("c2", specific))
    assert cards_of(body, "specificity-disc") == []


def test_disc_quiet_in_2023_when_m51_36_is_already_the_code_then():
    body = request(condition("c1", note="Back pain."), condition("c2", "M51.36"),
                   enc=encounter(start=IN_2023))
    assert cards_of(body, "specificity-disc") == []

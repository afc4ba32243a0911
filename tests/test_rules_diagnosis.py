"""The diagnosis rules of issue 3 (rules 2-7), in-process through the pipeline: when each fires,
when it must stay quiet (negated text, a specific code already present, an earlier date of
service), its suggestion actions, and how the rules keep out of each other's way."""

from __future__ import annotations

import json

import pytest

from cds_service.terminology import ICD10CM_SYSTEM, SNOMED_SYSTEM
from tests.builders import (
    FULL_NOTE,
    ORDER_SIGN,
    cards,
    cards_of,
    condition,
    encounter,
    first_codes,
    procedure,
    request,
    suggested_codes,
    topic,
)
from tests.contract import check_response
from tests.support.examples import EXAMPLES

IN_2021 = "2021-06-01T09:00:00-04:00"
IN_2023 = "2023-05-02T09:00:00-04:00"


def checked(body: dict, service: str | None = None) -> list[dict]:
    """The cards, after checking the response contract (shape, billable codes on the DOS)."""
    found = cards(body, service) if service else cards(body)
    # the info card that FY2027 is not loaded (dates past 2026-09-30): tests/test_codeset_releases
    found = [c for c in found if topic(c) != "codeset-outdated"]
    problems = check_response({"cards": found}, body, {})
    assert not problems, problems
    return found


def only(body: dict, rule_id: str) -> dict:
    found = [c for c in checked(body) if topic(c) == rule_id]
    assert len(found) == 1, [topic(c) for c in checked(body)]
    return found[0]


def all_codes(found: list[dict]) -> set[str]:
    return {code for card in found for codes in suggested_codes(card) for code in codes}


def actions(card: dict, index: int = 0) -> list[dict]:
    return card["suggestions"][index]["actions"]


# -- the shared examples, in-process --------------------------------------------------------
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_shared_examples(path):
    example = json.loads(path.read_text())
    service = ("lbp-coding-order-sign" if example["request"]["hook"] == "order-sign"
               else "lbp-coding-encounter-discharge")
    found = cards(example["request"], service)
    assert check_response({"cards": found}, example["request"], example["expect"]) == []


def test_documented_nonspecific_visit_gets_no_diagnosis_card():
    body = request(condition(snomed="279039007", note=FULL_NOTE))
    assert checked(body) == []


# == excludes1-conflict ======================================================================
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


# == specificity-radicular ===================================================================
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


# == specificity-disc ========================================================================
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


# == specificity-injury ======================================================================
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


def test_one_rule_speaks_for_a_diagnosis():
    # a strain comes first (coding-facts §6a rule 2): no competing M54.41 for the same Condition
    strain = request(condition(note=[FULL_NOTE, "Lumbar strain lifting boxes today, pain "
                                                "radiating down right leg."]))
    assert {topic(c) for c in checked(strain)} == {"specificity-injury"}
    # a fall alone yields to the disc disorder it revealed
    fall = request(condition(note=[FULL_NOTE, "After a fall, MRI shows L4-5 disc herniation."]))
    assert {topic(c) for c in checked(fall)} == {"specificity-disc"}


# == aftercare-code ==========================================================================
AFTERCARE_VISIT = "Post-op follow-up visit, rehab after lumbar surgery. "


def test_aftercare_visit_after_a_fusion_suggests_z47_89_with_z98_1():
    body = request(condition(note=AFTERCARE_VISIT + FULL_NOTE),
                   procedures=[procedure("p1", "22612", "2026-08-01")])
    card = only(body, "aftercare-code")
    assert card["indicator"] == "info"
    assert [a["type"] for a in actions(card)] == ["create", "create"]
    assert suggested_codes(card) == [["Z47.89", "Z98.1"]]
    assert all(a["resource"]["encounter"] == {"reference": "Encounter/e1"}
               for a in actions(card))


def test_aftercare_visit_after_a_laminectomy_suggests_z98_890():
    body = request(condition(note=AFTERCARE_VISIT + FULL_NOTE),
                   procedures=[procedure("p1", "63047", "2026-07-01")])
    assert suggested_codes(only(body, "aftercare-code")) == [["Z47.89", "Z98.890"]]


@pytest.mark.parametrize("surgery, status", [("22612", "Z98.1"), ("63047", "Z98.890")])
def test_an_earlier_spine_surgery_alone_is_a_status_not_an_aftercare_visit(surgery, status):
    """Official Guidelines I.C.21.c.7: aftercare codes are for encounters whose purpose is
    aftercare; a fusion two years before, with nothing in today's note about it, supports the
    status code only (never Z47.89)."""
    body = request(condition(note=FULL_NOTE), procedures=[procedure("p1", surgery, "2024-08-01")])
    card = only(body, "aftercare-code")
    assert card["indicator"] == "info"
    assert suggested_codes(card) == [[status]]
    assert "Z47.89" not in all_codes(checked(body))


def test_aftercare_flags_z48_812_and_never_suggests_it():
    body = request(condition("c1", note=FULL_NOTE), condition("c2", "Z48.812"),
                   procedures=[procedure("p1", "22630", "2026-09-01")])
    found = checked(body)
    card = only(body, "aftercare-code")
    assert card["indicator"] == "warning"
    assert "Z48.812" in card["summary"]
    update, create = actions(card)
    assert update["type"] == "update" and update["resource"]["id"] == "c2"
    assert [c["code"] for c in update["resource"]["code"]["coding"]] == ["Z47.89"]
    assert [c["code"] for c in create["resource"]["code"]["coding"]] == ["Z98.1"]
    assert "Z48.812" not in all_codes(found)


def test_aftercare_flags_z48_812_when_the_note_says_spine_surgery():
    body = request(condition("c2", "Z48.812", note="Aftercare s/p L4-5 fusion.",
                             documented=False))
    card = only(body, "aftercare-code")
    assert card["indicator"] == "warning"
    assert suggested_codes(card) == [["Z47.89", "Z98.1"]]  # a fusion: Z98.1


@pytest.mark.parametrize("note, expected", [
    ("Status post L4-L5 fusion 3 months ago. ", [["Z98.1"]]),
    ("Laminectomy L4 in June at another hospital. ", [["Z98.890"]]),
    ("Post-op rehab visit. Status post L4-L5 fusion 3 months ago. ", [["Z47.89", "Z98.1"]]),
])
def test_aftercare_when_only_the_note_documents_the_surgery(note, expected):
    body = request(condition(note=note + FULL_NOTE))
    card = only(body, "aftercare-code")
    assert card["indicator"] == "info"
    assert suggested_codes(card) == expected


@pytest.mark.parametrize("note", ["No prior back surgery. ", "Denies spinal fusion. "])
def test_aftercare_quiet_when_the_note_denies_surgery(note):
    assert cards_of(request(condition(note=note + FULL_NOTE)), "aftercare-code") == []


def test_aftercare_with_arthrodesis_status_coded():
    visit = request(condition("c1", note=AFTERCARE_VISIT + FULL_NOTE), condition("c2", "Z98.1"))
    assert suggested_codes(only(visit, "aftercare-code")) == [["Z47.89"]]
    # the status is coded and nothing says this visit is aftercare: nothing to add
    status_only = request(condition("c1", note=FULL_NOTE), condition("c2", "Z98.1"))
    assert cards_of(status_only, "aftercare-code") == []


def test_aftercare_adds_only_the_missing_status_code():
    body = request(condition("c1", note=FULL_NOTE), condition("c2", "Z47.89"),
                   procedures=[procedure("p1", "22612", "2026-08-01")])
    assert suggested_codes(only(body, "aftercare-code")) == [["Z98.1"]]


@pytest.mark.parametrize(
    "conditions, procedures",
    [
        ([condition(note=FULL_NOTE)], []),
        # surgery after this visit, or in this very encounter, is not "before"
        ([condition(note=FULL_NOTE)], [procedure("p1", "22612", "2026-12-01")]),
        ([condition(note=FULL_NOTE)], [procedure("p1", "22612", "2026-11-20",
                                                 encounter_id="e1")]),
        # not spine surgery
        ([condition(note=FULL_NOTE)], [procedure("p1", "97110", "2026-08-01")]),
        # Z48.812 with nothing about the spine: may well be circulatory aftercare
        ([condition("c2", "Z48.812", documented=False)], []),
        # already complete
        ([condition("c1", note=FULL_NOTE), condition("c2", "Z47.89"), condition("c3", "Z98.1")],
         [procedure("p1", "22612", "2026-08-01")]),
        # a visit about something else
        ([condition("c1", "I10", documented=False)], [procedure("p1", "22612", "2026-08-01")]),
    ],
)
def test_aftercare_quiet(conditions, procedures):
    assert cards_of(request(*conditions, procedures=procedures), "aftercare-code") == []


# == documentation-missing ===================================================================
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


# == specificity-vertebrogenic ==============================================================
@pytest.mark.parametrize("note", ["Vertebrogenic low back pain. ",
                                  "Assessment: vertebral endplate pain at L4-L5. "])
def test_vertebrogenic_suggests_m54_51(note):
    body = request(condition(note=note + FULL_NOTE))
    card = only(body, "specificity-vertebrogenic")
    assert card["indicator"] == "warning"
    assert suggested_codes(card) == [["M54.51"]]
    [action] = actions(card)
    assert action["type"] == "update" and action["resource"]["id"] == "c1"


@pytest.mark.parametrize("conditions, start", [
    ([condition(note="Not vertebrogenic. " + FULL_NOTE)], None),
    ([condition(icd="M54.51", note="Vertebrogenic low back pain. " + FULL_NOTE)], None),
    # a documented disc herniation is more specific still: that rule speaks instead
    ([condition(note="Vertebrogenic pain and L4-5 disc herniation. " + FULL_NOTE)], None),
    # before 2021-10-01 M54.51 did not exist
    ([condition(icd="M54.5", note="Vertebrogenic low back pain. " + FULL_NOTE,
                recorded="2020-06-01")], "2020-06-01T09:00:00-04:00"),
])
def test_vertebrogenic_quiet(conditions, start):
    enc = encounter(start=start) if start else None
    body = request(*conditions, enc=enc) if enc else request(*conditions)
    assert cards_of(body, "specificity-vertebrogenic") == []

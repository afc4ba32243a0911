"""[aftercare-code]: a visit after spine surgery gets Z47.89 (aftercare, when the visit is
aftercare) and the status code Z98.1 / Z98.890; Z48.812 is flagged. Its
``evaluate(facts, terminology)`` on a table of notes and procedures, then whole requests
through to the card."""

from __future__ import annotations

import pytest

from cds_service.rules import aftercare_code
from tests.builders import (
    FULL_NOTE,
    cards_of,
    condition,
    procedure,
    request,
    suggested_codes,
)
from tests.rules.diagnosis_cards import actions, all_codes, checked, only
from tests.rules.facts_tables import diagnosis_facts, suggestion_codes, terminology

# -- evaluate(facts, terminology) on tables of facts -----------------------------------------------
AFTERCARE = "Post-op follow-up visit, rehab after lumbar surgery. "


@pytest.mark.parametrize("note, surgery, case, expected", [
    pytest.param(AFTERCARE, ("22612", "2026-08-01"), "missing_aftercare", [["Z47.89", "Z98.1"]],
                 id="aftercare-after-fusion"),
    pytest.param(AFTERCARE, ("63047", "2026-07-01"), "missing_aftercare",
                 [["Z47.89", "Z98.890"]], id="aftercare-after-laminectomy"),
    pytest.param("", ("22612", "2024-08-01"), "status_only", [["Z98.1"]],
                 id="fusion-long-ago-is-status"),
    pytest.param("", ("63047", "2024-08-01"), "status_only", [["Z98.890"]],
                 id="laminectomy-long-ago-is-status"),
    pytest.param("Status post L4-L5 fusion 3 months ago. ", None, "status_only", [["Z98.1"]],
                 id="note-documents-fusion"),
    pytest.param("Post-op rehab visit. Status post L4-L5 fusion 3 months ago. ", None,
                 "missing_aftercare", [["Z47.89", "Z98.1"]], id="note-documents-aftercare"),
    pytest.param("", None, None, None, id="no-surgery"),
    pytest.param("", ("22612", "2026-12-01"), None, None, id="surgery-after-the-visit"),
    pytest.param("", ("97110", "2026-08-01"), None, None, id="not-spine-surgery"),
    pytest.param("No prior back surgery. ", None, None, None, id="surgery-denied"),
])
def test_evaluate_on_a_table_of_notes_and_surgeries(note, surgery, case, expected):
    procedures = [procedure("p1", *surgery)] if surgery else []
    facts = diagnosis_facts(condition(note=note + FULL_NOTE), procedures=procedures)
    found = aftercare_code.evaluate(facts, terminology())
    if expected is None:
        assert found == []
        return
    [finding] = found
    assert (finding.rule_id, finding.params["case"], finding.indicator) == (
        aftercare_code.RULE_ID, case, None)
    assert suggestion_codes(finding) == expected


def test_evaluate_flags_z48_812_as_a_warning():
    facts = diagnosis_facts(condition("c1", note=FULL_NOTE), condition("c2", "Z48.812"),
                            procedures=[procedure("p1", "22630", "2026-09-01")])
    [finding] = aftercare_code.evaluate(facts, terminology())
    assert (finding.params["case"], finding.params["wrong"], finding.indicator) == (
        "wrong_code", "Z48.812", "warning")
    assert suggestion_codes(finding) == [["Z47.89", "Z98.1"]]


# -- whole requests, through the pipeline to the card ---------------------------------------------
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

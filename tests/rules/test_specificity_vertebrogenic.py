"""[specificity-vertebrogenic]: low back pain documented as vertebrogenic gets M54.51 (from
2021-10-01). Its ``evaluate(facts, terminology)`` on a table of notes, then whole requests
through to the card."""

from __future__ import annotations

import pytest

from cds_service.rules import specificity_vertebrogenic
from tests.builders import (
    FULL_NOTE,
    cards_of,
    condition,
    encounter,
    request,
    suggested_codes,
)
from tests.rules.diagnosis_cards import actions, only
from tests.rules.facts_tables import diagnosis_facts, outcome, terminology


# -- evaluate(facts, terminology) on tables of facts -----------------------------------------------
@pytest.mark.parametrize("icd, note, day, expected", [
    pytest.param("M54.50", "Vertebrogenic low back pain. ", "2026-11-20",
                 [("Condition/c1", ["M54.51"], None)], id="vertebrogenic"),
    pytest.param("M54.50", "Assessment: vertebral endplate pain at L4-L5. ", "2026-11-20",
                 [("Condition/c1", ["M54.51"], None)], id="endplate-pain"),
    pytest.param("M54.50", "Not vertebrogenic. ", "2026-11-20", [], id="denied"),
    pytest.param("M54.51", "Vertebrogenic low back pain. ", "2026-11-20", [],
                 id="already-coded"),
    pytest.param("M54.50", "Vertebrogenic pain and L4-5 disc herniation. ", "2026-11-20", [],
                 id="disc-is-more-specific"),
    pytest.param("M54.5", "Vertebrogenic low back pain. ", "2020-06-01", [],
                 id="before-m54.51-existed"),
])
def test_evaluate_on_a_table_of_notes(icd, note, day, expected):
    facts = diagnosis_facts(condition(icd=icd, note=note + FULL_NOTE, recorded=None), day=day)
    found = specificity_vertebrogenic.evaluate(facts, terminology())
    assert outcome(found, specificity_vertebrogenic.RULE_ID) == expected


# -- whole requests, through the pipeline to the card ---------------------------------------------
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

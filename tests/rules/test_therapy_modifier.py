"""[therapy-modifier]: Medicare outpatient physical therapy needs GP, and KX past the year's
threshold. Its ``evaluate(facts, terminology)`` on a table of procedures, payers and years,
then whole requests through to the card."""

from __future__ import annotations

import pytest

from cds_service.rules import therapy_modifier
from cds_service.terminology import HCPCS_SYSTEM
from tests.procedure_builders import (
    commercial,
    condition,
    discharge,
    medicare,
    order_sign,
    procedure,
    service_request,
)
from tests.rules.facts_tables import discharge_facts, terminology
from tests.rules.procedure_cards import LBP, cards_of


# -- evaluate(facts, terminology) on tables of facts -----------------------------------------------
@pytest.mark.parametrize("codes, icd, payer, day, expected", [
    pytest.param(["97110", "97140"], "M54.50", "medicare", "2026-03-02",
                 [(["97110", "97140"], 2026, "$2,480")], id="cy2026"),
    pytest.param(["97110"], "M54.50", "medicare", "2025-03-02", [(["97110"], 2025, "$2,410")],
                 id="cy2025"),
    pytest.param(["97530"], "M54.50", "medicare", "2027-02-01", [(["97530"], 2027, "")],
                 id="threshold-not-known"),
    pytest.param(["G0283"], "M54.50", "medicare", "2026-11-20", [(["G0283"], 2026, "$2,480")],
                 id="g0283"),
    pytest.param(["97110"], "M54.50", "commercial", "2026-11-20", [], id="commercial"),
    pytest.param(["97110"], "M54.50", None, "2026-11-20", [], id="no-coverage"),
    pytest.param(["98940"], "M99.03", "medicare", "2026-11-20", [], id="manipulation"),
    pytest.param(["97166"], "M54.50", "medicare", "2026-11-20", [], id="ot-evaluation"),
])
def test_evaluate_on_a_table_of_procedures_and_payers(codes, icd, payer, day, expected):
    found = therapy_modifier.evaluate(discharge_facts(codes, [icd], payer, day), terminology())
    assert {f.rule_id for f in found} <= {therapy_modifier.RULE_ID}
    assert [([code for code, _ in f.params["codes"]], f.params["year"], f.params["kx_threshold"])
            for f in found] == expected


# -- whole requests, through the pipeline to the card ---------------------------------------------
@pytest.mark.parametrize("year, amount", [("2026", "$2,480"), ("2025", "$2,410")])
def test_therapy_modifiers_at_discharge_with_the_years_threshold(pipeline, year, amount):
    procedures = [procedure("p1", "97110", day=f"{year}-03-02"),
                  procedure("p2", "97140", day=f"{year}-03-02")]
    body = discharge(procedures, [LBP], [medicare()], start=f"{year}-03-02T09:00:00-05:00")
    [card] = cards_of(pipeline, body, "therapy-modifier")
    assert card["indicator"] == "info"
    assert "GP" in card["summary"] and "KX" in card["summary"]
    assert amount in card["summary"] and f"CY{year}" in card["summary"]
    assert "97110" in card["detail"] and "97140" in card["detail"]


def test_therapy_threshold_of_an_unknown_year_is_not_invented(pipeline):
    body = discharge([procedure("p1", "97530", day="2027-02-01")], [LBP], [medicare()],
                     start="2027-02-01T09:00:00-05:00")
    [card] = cards_of(pipeline, body, "therapy-modifier")
    assert "not known" in card["summary"]
    assert "$" not in card["summary"] and "$" not in card["detail"]


def test_g0283_is_therapy_too(pipeline):
    body = discharge([procedure("p1", "G0283", HCPCS_SYSTEM)], [LBP], [medicare()])
    assert len(cards_of(pipeline, body, "therapy-modifier")) == 1


@pytest.mark.parametrize(
    "body",
    [discharge([procedure("p1", "97110")], [LBP], [commercial()]),
     discharge([procedure("p1", "97110")], [LBP], None),
     discharge([procedure("p1", "98940")], [condition("c1", "M99.03")], [medicare()]),
     discharge([procedure("p1", "97166")], [LBP], [medicare()]),   # OT evaluation: GO, not GP
     order_sign([service_request("sr1", "97110")], [LBP], [medicare()])],  # discharge only
)
def test_therapy_modifier_quiet(pipeline, body):
    assert cards_of(pipeline, body, "therapy-modifier") == []

"""[therapy-modifier]"""

from __future__ import annotations

import pytest

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
from tests.rules.procedure_cards import LBP, cards_of


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

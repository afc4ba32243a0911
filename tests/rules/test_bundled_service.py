"""[bundled-service]"""

from __future__ import annotations

import pytest

from tests.procedure_builders import (
    commercial,
    discharge,
    medicare,
    order_sign,
    procedure,
    service_request,
)
from tests.rules.procedure_cards import LBP, cards_of


# -- whole requests, through the pipeline to the card ---------------------------------------------
@pytest.mark.parametrize("hook", ["order-sign", "encounter-discharge"])
def test_hot_or_cold_packs_for_medicare(pipeline, hook):
    body = (order_sign([service_request("sr1", "97010")], [LBP], [medicare()])
            if hook == "order-sign" else discharge([procedure("p1", "97010")], [LBP], [medicare()]))
    [card] = cards_of(pipeline, body, "bundled-service")
    assert card["indicator"] == "info"
    assert "97010" in card["summary"]
    assert "status **B**" in card["detail"]
    assert "cannot be billed" in card["summary"]


@pytest.mark.parametrize("covs, code", [([commercial()], "97010"), (None, "97010"),
                                        ([medicare()], "97110")])
def test_bundled_service_quiet(pipeline, covs, code):
    body = discharge([procedure("p1", code)], [LBP], covs)
    assert cards_of(pipeline, body, "bundled-service") == []

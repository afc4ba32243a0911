"""[specificity-vertebrogenic]"""

from __future__ import annotations

import pytest

from tests.builders import (
    FULL_NOTE,
    cards_of,
    condition,
    encounter,
    request,
    suggested_codes,
)
from tests.rules.diagnosis_cards import actions, only


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

"""Whole-request helpers for the diagnosis rules' card tests: the cards of a request through
the pipeline in process, checked against the response contract."""

from __future__ import annotations

from tests.builders import cards, suggested_codes, topic
from tests.contract import check_response

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

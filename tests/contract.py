"""The response contract of ../shared/examples/README.md, as a checker used by several tests."""

from __future__ import annotations

from datetime import date

from cds_service.terminology import ICD10CM_SYSTEM, get_terminology

INDICATORS = {"info", "warning", "critical"}


def empty_values(value, path="$"):
    """Paths of null or empty values: the spec says to omit optional fields instead."""
    found = []
    if value is None or value == "" or value == [] or value == {}:
        found.append(path)
    elif isinstance(value, dict):
        for key, item in value.items():
            found.extend(empty_values(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(empty_values(item, f"{path}[{index}]"))
    return found


def suggested_codes(card: dict) -> list[tuple[str | None, str]]:
    codes = []
    for suggestion in card.get("suggestions", []):
        for action in suggestion.get("actions", []):
            resource = action.get("resource") or {}
            for coding in (resource.get("code") or {}).get("coding", []):
                codes.append((coding.get("system"), coding.get("code")))
    return codes


def date_of_service(request: dict) -> date:
    encounter = (request.get("prefetch") or {}).get("encounter") or {}
    start = (encounter.get("period") or {}).get("start")
    if start:
        return date.fromisoformat(start[:10])
    for entry in ((request.get("prefetch") or {}).get("conditions") or {}).get("entry", []):
        recorded = entry["resource"].get("recordedDate")
        if recorded:
            return date.fromisoformat(recorded[:10])
    return date.today()


def check_card_shape(card: dict) -> list[str]:
    problems = []
    for field in ("uuid", "summary", "indicator", "source"):
        if field not in card:
            problems.append(f"card lacks {field}")
    if len(card.get("summary", "")) > 140:
        problems.append(f"summary over 140 characters: {card['summary']!r}")
    if card.get("indicator") not in INDICATORS:
        problems.append(f"bad indicator {card.get('indicator')!r}")
    source = card.get("source", {})
    if not source.get("label") or not (source.get("topic") or {}).get("code"):
        problems.append("source needs label and topic.code")
    if card.get("suggestions") and card.get("selectionBehavior") not in ("at-most-one", "any"):
        problems.append("card with suggestions lacks selectionBehavior")
    for suggestion in card.get("suggestions", []):
        if not suggestion.get("label") or not suggestion.get("uuid"):
            problems.append("suggestion lacks label or uuid")
        for action in suggestion.get("actions", []):
            if action.get("type") not in ("create", "update", "delete"):
                problems.append(f"action type {action.get('type')!r}")
            if not action.get("description"):
                problems.append("action lacks description")
    problems.extend(f"empty value at {p}" for p in empty_values(card))
    return problems


def check_response(response: dict, request: dict, expect: dict) -> list[str]:
    problems = []
    cards = response.get("cards")
    if not isinstance(cards, list):
        return ["response has no cards array"]
    topics = {c.get("source", {}).get("topic", {}).get("code") for c in cards}
    for card in cards:
        problems.extend(check_card_shape(card))
    for topic in expect.get("topics", []):
        if topic not in topics:
            problems.append(f"missing topic {topic}; got {sorted(t for t in topics if t)}")
    for topic in expect.get("no_topics", []):
        if topic in topics:
            problems.append(f"unexpected topic {topic}")
    codes = {code for card in cards for _, code in suggested_codes(card)}
    for code in expect.get("codes", []):
        if code not in codes:
            problems.append(f"no suggestion carries {code}; got {sorted(c for c in codes if c)}")
    for code in expect.get("no_codes", []):
        if code in codes:
            problems.append(f"a suggestion carries {code}")
    if expect.get("quiet"):
        loud = [c["source"]["topic"]["code"] for c in cards
                if c.get("indicator") in ("warning", "critical")]
        if loud:
            problems.append(f"expected quiet, got warning/critical cards: {loud}")
    icd = get_terminology().icd
    day = date_of_service(request)
    for card in cards:
        for system, code in suggested_codes(card):
            if system == ICD10CM_SYSTEM and not icd.is_billable(code, day):
                problems.append(f"suggested {code} is not billable on {day}")
    return problems

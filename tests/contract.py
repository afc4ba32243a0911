"""The response contract of ../shared/examples/README.md, as a checker used by several tests,
and the generic CDS Hooks 2.0 card and action checks (``cds_hooks_problems``) that
tests/support/hook_contract.py runs on every hook response any test sees."""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import urlsplit

from cds_service.terminology import ICD10CM_SYSTEM, get_terminology

INDICATORS = {"info", "warning", "critical"}
ACTION_TYPES = {"create", "update", "delete"}
SELECTION_BEHAVIORS = {"at-most-one", "any"}
LINK_TYPES = {"absolute", "smart"}
# Action.resourceId: one relative reference, {resourceType}/{id} (FHIR R4 §2.1.0.2 id)
RELATIVE_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


def cds_hooks_problems(response) -> list[str]:
    """The generic checks of CDS Hooks 2.0 §CDS Service Response (Card, Source, Suggestion,
    Action, Link, overrideReasons), as the Da Vinci CRD test kit's server suite runs them on
    card and action shapes: required fields present and of their JSON type, nothing empty,
    enumerations respected, ``summary`` under 140 characters, ``selectionBehavior`` with
    suggestions, ``resource`` on create/update, ``resourceId`` one relative reference on
    delete, absolute URLs where the spec has URLs."""
    if not isinstance(response, dict):
        return ["response is not a JSON object"]
    cards = response.get("cards")
    if not isinstance(cards, list):
        return ["response has no cards array"]
    problems = []
    for index, card in enumerate(cards):
        problems.extend(f"cards[{index}]: {p}" for p in _card_problems(card))
    system_actions = response.get("systemActions")
    if system_actions is not None:
        if not isinstance(system_actions, list):
            problems.append("systemActions is not an array")
        else:
            for index, action in enumerate(system_actions):
                problems.extend(f"systemActions[{index}]: {p}" for p in _action_problems(action))
    return problems


def _field(obj: dict, name: str, kind: type, where: str, required: bool = True) -> list[str]:
    if name not in obj:
        return [f"{where} lacks required {name}"] if required else []
    value = obj[name]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        return [f"{where}.{name} is not a JSON {kind.__name__}"]
    if kind is not bool and not value:
        return [f"{where}.{name} is empty"]
    return []


def _is_absolute_url(value) -> bool:
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _card_problems(card) -> list[str]:
    if not isinstance(card, dict):
        return ["card is not an object"]
    problems = []
    problems += _field(card, "summary", str, "card")
    problems += _field(card, "indicator", str, "card")
    problems += _field(card, "source", dict, "card")
    for name, kind in (("uuid", str), ("detail", str), ("suggestions", list),
                       ("overrideReasons", list), ("links", list)):
        problems += _field(card, name, kind, "card", required=False)
    summary = card.get("summary")
    if isinstance(summary, str) and len(summary) >= 140:  # the spec: "<140 characters"
        problems.append(f"summary has {len(summary)} characters; the spec allows under 140")
    if "indicator" in card and card["indicator"] not in INDICATORS:
        problems.append(f"indicator {card['indicator']!r} is not info, warning or critical")
    source = card.get("source")
    if isinstance(source, dict):
        problems += _field(source, "label", str, "source")
        if "url" in source and not _is_absolute_url(source["url"]):
            problems.append("source.url is not an absolute URL")
        if "icon" in source and not _is_absolute_url(source["icon"]):
            problems.append("source.icon is not an absolute URL")
        topic = source.get("topic")
        problems += _field(source, "topic", dict, "source")  # required by the CRD test kit
        if isinstance(topic, dict):
            problems += _field(topic, "code", str, "source.topic")
            problems += _field(topic, "system", str, "source.topic")
    suggestions = card.get("suggestions")
    if isinstance(suggestions, list) and suggestions:
        if card.get("selectionBehavior") not in SELECTION_BEHAVIORS:
            problems.append("a card with suggestions needs selectionBehavior at-most-one or any")
        for index, suggestion in enumerate(suggestions):
            problems.extend(f"suggestions[{index}]: {p}" for p in _suggestion_problems(suggestion))
    elif "selectionBehavior" in card and card["selectionBehavior"] not in SELECTION_BEHAVIORS:
        problems.append(f"selectionBehavior {card['selectionBehavior']!r} is not allowed")
    for index, reason in enumerate(card.get("overrideReasons") or []):
        if not isinstance(reason, dict):
            problems.append(f"overrideReasons[{index}] is not a Coding")
            continue
        for name in ("code", "system", "display"):
            problems += _field(reason, name, str, f"overrideReasons[{index}]")
    for index, link in enumerate(card.get("links") or []):
        problems.extend(f"links[{index}]: {p}" for p in _link_problems(link))
    return problems


def _suggestion_problems(suggestion) -> list[str]:
    if not isinstance(suggestion, dict):
        return ["suggestion is not an object"]
    problems = _field(suggestion, "label", str, "suggestion")
    problems += _field(suggestion, "uuid", str, "suggestion", required=False)
    problems += _field(suggestion, "isRecommended", bool, "suggestion", required=False)
    problems += _field(suggestion, "actions", list, "suggestion", required=False)
    for index, action in enumerate(suggestion.get("actions") or []):
        problems.extend(f"actions[{index}]: {p}" for p in _action_problems(action))
    return problems


def _action_problems(action) -> list[str]:
    if not isinstance(action, dict):
        return ["action is not an object"]
    problems = _field(action, "type", str, "action")
    problems += _field(action, "description", str, "action")
    kind = action.get("type")
    if "type" in action and kind not in ACTION_TYPES:
        problems.append(f"action type {kind!r} is not create, update or delete")
    if kind in ("create", "update"):
        resource = action.get("resource")
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            problems.append(f"a {kind} action needs resource, a FHIR resource")
    if kind == "delete":
        resource_id = action.get("resourceId")
        if not isinstance(resource_id, str):
            problems.append("a delete action's resourceId must be one string, "
                            f"not {type(resource_id).__name__}")
        elif not RELATIVE_REFERENCE.match(resource_id):
            problems.append("a delete action's resourceId is not a relative reference "
                            "{resourceType}/{id}")
    return problems


def _link_problems(link) -> list[str]:
    if not isinstance(link, dict):
        return ["link is not an object"]
    problems = _field(link, "label", str, "link") + _field(link, "type", str, "link")
    if not _is_absolute_url(link.get("url")):
        problems.append("link.url is not an absolute URL")
    if "type" in link and link["type"] not in LINK_TYPES:
        problems.append(f"link.type {link['type']!r} is not absolute or smart")
    if link.get("type") == "absolute" and "appContext" in link:
        problems.append("appContext belongs to smart links only")
    return problems


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
    problems = _card_problems(card)
    if "uuid" not in card:
        problems.append("card lacks uuid")  # ours always carry one, for feedback
    for suggestion in card.get("suggestions", []):
        if not suggestion.get("uuid"):
            problems.append("suggestion lacks uuid")
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

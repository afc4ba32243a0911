"""Building an encounter's facts from a small request (tests.builders), in-process, the way the
hook pipeline does, without the HTTP layer."""

from __future__ import annotations

from datetime import date

from cds_service.facts import EncounterFacts, build_facts
from cds_service.terminology import get_terminology
from tests.builders import request


def facts_of(*conditions: dict, enc: dict | None = None, hook: str = "encounter-discharge",
             draft_orders: list[dict] = (), today: date | None = None) -> EncounterFacts:
    """The facts ``build_facts`` makes of a request with these Conditions."""
    body = request(*conditions, enc=enc, hook=hook)
    return build_facts(hook, body["context"], body["prefetch"], list(draft_orders),
                       get_terminology(), today=today)

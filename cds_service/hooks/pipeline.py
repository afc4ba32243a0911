"""One pipeline for every hook call: envelope -> prefetch -> facts -> rules -> cards.

Each FHIR resource is checked once, on its way in: the envelope checks what the client sent,
the prefetch resolution what it fetched, and of the client's search results (a patient's long
history, mostly read by no rule) only the ones the facts hand to the rules are validated in full.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..cards import CardRenderer
from ..deadline import enter_stage
from ..errors import CdsError
from ..facts import EncounterFacts, build_facts
from ..fhir.validation import validate_resource
from ..rules._findings import Finding
from ..rules._registry import run_rules
from ..terminology import Terminology
from .envelope import HookRequest, read_envelope
from .prefetch import Fetcher, resolve_prefetch
from .prefetch_keys import PREFETCH_RESOURCE_TYPES, SEARCH_KEYS
from .registry import SERVICES


@dataclass
class HookResult:
    request: HookRequest
    findings: list[Finding]
    response: dict[str, Any]
    rule_ids: list[str] = field(default_factory=list)
    facts: EncounterFacts | None = None


class HookPipeline:
    def __init__(self, terminology: Terminology, renderer: CardRenderer,
                 fetcher: Fetcher | None = None):
        self.terminology = terminology
        self.renderer = renderer
        self.fetcher = fetcher

    def evaluate(self, service_id: str, body: Any, today: date | None = None,
                 rule_pages: str | None = None) -> HookResult:
        """``rule_pages``: the absolute URL of the rule pages, for each card's ``source.url``."""
        service = SERVICES.get(service_id)
        if service is None:
            raise CdsError(404, f"No CDS service with id '{service_id}'.")
        request = read_envelope(body, service)
        enter_stage("prefetch")  # each stage checks the call's time budget (deadline.py)
        resolved = resolve_prefetch(request, self.fetcher)
        enter_stage("facts")
        # what could not be had is simply absent from the facts: rules that need it stay quiet
        facts = build_facts(service.hook, request.context, resolved.data, request.draft_orders,
                            self.terminology, today)
        validate_read_in_depth(facts, request)
        enter_stage("rules")
        findings = run_rules(facts, self.terminology)
        enter_stage("cards")
        cards = self.renderer.render(findings, resolved.fetch_failed, rule_pages)
        return HookResult(request, findings, {"cards": cards}, [f.rule_id for f in findings],
                          facts)


def validate_read_in_depth(facts: EncounterFacts, request: HookRequest) -> None:
    """Validate in full, with its model, each resource of the client's search results that the
    rules read in depth (the diagnoses, the encounter's procedures, the coverage); a 400 naming
    where the client sent it. What the service fetched was validated in full on arrival.

    Only the facts know which resources those are (which Conditions are the encounter's
    diagnoses...), so this runs once they are built, before any rule reads them."""
    sent_at = _where_sent(request.prefetch)
    for resource in (*(d.resource for d in facts.diagnoses),
                     *(p.resource for p in facts.procedures), *facts.coverages):
        path = sent_at.pop(id(resource), None)  # once per request, however many rules read it
        if path is not None:
            validate_resource(resource, path)


def _where_sent(prefetch: dict[str, dict | None]) -> dict[int, str]:
    """Where each resource of the client's search Bundles sat, by the identity of the resource
    object: the facts hold these very objects (the merged keys reuse the client's entries)."""
    where = {}
    for key, bundle in prefetch.items():
        if key not in SEARCH_KEYS or bundle is None:
            continue
        expected = PREFETCH_RESOURCE_TYPES[key]
        for index, entry in enumerate(bundle.get("entry", [])):
            if entry["resource"].get("resourceType") == expected:
                where[id(entry["resource"])] = f"prefetch.{key}.entry[{index}].resource"
    return where

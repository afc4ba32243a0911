"""One pipeline for every hook call: request -> prefetch -> facts -> rules -> cards."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..cards import CardRenderer
from ..deadline import enter_stage
from ..errors import CdsError
from ..facts import EncounterFacts, build_facts
from ..rules._findings import Finding
from ..rules._registry import run_rules
from ..terminology import Terminology
from .prefetch import Fetcher, resolve_prefetch
from .request import HookRequest, parse_hook_request, validate_read_resources
from .services import SERVICES


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
        request = parse_hook_request(body, service)
        enter_stage("prefetch")  # each stage checks the call's time budget (deadline.py)
        resolved = resolve_prefetch(request, self.fetcher)
        enter_stage("facts")
        # what could not be had is simply absent from the facts: rules that need it stay quiet
        facts = build_facts(service.hook, request.context, resolved.data, request.draft_orders,
                            self.terminology, today)
        validate_read_resources(
            [*(d.resource for d in facts.diagnoses), *(p.resource for p in facts.procedures),
             *facts.coverages],
            request.paths,
        )
        enter_stage("rules")
        findings = run_rules(facts, self.terminology)
        enter_stage("cards")
        cards = self.renderer.render(findings, resolved.fetch_failed, rule_pages)
        return HookResult(request, findings, {"cards": cards}, [f.rule_id for f in findings],
                          facts)

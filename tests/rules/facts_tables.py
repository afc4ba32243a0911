"""Facts from small tables, for testing one rule's ``evaluate(facts, terminology)`` on its own.

A table row names what is on the record (ICD-10-CM codes, SNOMED CT codes, note phrases, the
date of service, the payer, the orders signed or procedures performed); the helpers here turn
it into request-shaped FHIR resources (``tests/builders.py``, ``tests/procedure_builders.py``)
and then into facts through ``cds_service.facts.build_facts``, with the Terminology the
pipeline uses. What a rule returns is read back as plain values (``outcome``), so that a row can
say what it expects: nothing, or the finding's target, suggested codes and indicator.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from cds_service.facts import EncounterFacts, build_facts
from cds_service.terminology import (
    CPT_SYSTEM,
    HCPCS_SYSTEM,
    ICD10CM_SYSTEM,
    Terminology,
    get_terminology,
)
from tests import builders, procedure_builders

DAY = builders.DAY  # 2026-11-20, the date of service unless a row says otherwise
_CODE_SYSTEMS = (ICD10CM_SYSTEM, CPT_SYSTEM, HCPCS_SYSTEM)


def terminology() -> Terminology:
    """The Terminology the service builds once per process (the pipeline's own)."""
    return get_terminology()


def facts_of(body: dict, today: date | None = None) -> EncounterFacts:
    """The facts of a CDS Hooks request, built as the pipeline builds them from its prefetch
    and draft orders."""
    context = body["context"]
    drafts = context.get("draftOrders") or {}
    orders = [entry["resource"] for entry in drafts.get("entry", [])]
    return build_facts(body["hook"], context, body["prefetch"], orders, terminology(), today)


def start_of(day: str) -> str:
    """An encounter's start on that day (the date of service)."""
    return f"{day}T09:00:00-05:00"


def diagnosis_facts(*conditions: dict, day: str = DAY, reason: str | None = None,
                    procedures: Iterable[dict] = (), hook: str = "encounter-discharge"
                    ) -> EncounterFacts:
    """Facts of an encounter on ``day`` with these Conditions (``builders.condition``), an
    encounter reason text and the patient's procedures."""
    enc = builders.encounter(start=start_of(day), reason_text=reason)
    return facts_of(builders.request(*conditions, enc=enc, procedures=list(procedures),
                                     hook=hook))


def payer_coverages(payer: str | None) -> list[dict] | None:
    """A row's payer: "medicare", "commercial", or None (no Coverage)."""
    return {None: None, "medicare": [procedure_builders.medicare()],
            "commercial": [procedure_builders.commercial()]}[payer]


def order_facts(orders: Iterable[str], icd: Iterable[str] = ("M54.50",),
                payer: str | None = None, performed: Iterable[str] = (), day: str = DAY
                ) -> EncounterFacts:
    """Facts of an order-sign call: draft ServiceRequests with these CPT/HCPCS codes, each
    diagnosis coded with one ICD-10-CM code, the payer, procedures performed today."""
    return facts_of(procedure_builders.order_sign(
        [_service_request(f"sr{i}", code) for i, code in enumerate(orders, 1)],
        [procedure_builders.condition(f"c{i}", code) for i, code in enumerate(icd, 1)],
        payer_coverages(payer),
        [_procedure(f"p{i}", code, day) for i, code in enumerate(performed, 1)],
        start=start_of(day)))


def discharge_facts(performed: Iterable[str], icd: Iterable[str] = ("M54.50",),
                    payer: str | None = None, day: str = DAY) -> EncounterFacts:
    """Facts of an encounter-discharge call with these procedures performed on ``day``."""
    return facts_of(procedure_builders.discharge(
        [_procedure(f"p{i}", code, day) for i, code in enumerate(performed, 1)],
        [procedure_builders.condition(f"c{i}", code) for i, code in enumerate(icd, 1)],
        payer_coverages(payer), start=start_of(day)))


def _system(code: str) -> str:
    return HCPCS_SYSTEM if code[0].isalpha() else CPT_SYSTEM


def _service_request(sid: str, code: str) -> dict:
    return procedure_builders.service_request(sid, code, _system(code))


def _procedure(pid: str, code: str, day: str) -> dict:
    return procedure_builders.procedure(pid, code, _system(code), day=day)


# -- reading findings back --------------------------------------------------------------------
def suggestion_codes(finding) -> list[list[str]]:
    """Per suggestion, the ICD-10-CM, CPT and HCPCS codes its actions' resources carry."""
    return [[coding["code"] for action in suggestion.actions if action.resource
             for coding in action.resource.get("code", {}).get("coding", [])
             if coding.get("system") in _CODE_SYSTEMS]
            for suggestion in finding.suggestions]


def new_codes(finding) -> list[str]:
    """The new code of each suggestion (that of its first action's resource)."""
    return [codes[0] for codes in suggestion_codes(finding) if codes]


def deleted(finding) -> list[str]:
    """The resources the finding's suggestions delete ("Condition/c2")."""
    return [action.resource_id for suggestion in finding.suggestions
            for action in suggestion.actions if action.type == "delete"]


def outcome(findings, rule_id: str) -> list[tuple]:
    """Each finding as (target, first codes, indicator), after checking it is the rule's."""
    assert {f.rule_id for f in findings} <= {rule_id}, [f.rule_id for f in findings]
    return [(f.target, new_codes(f), f.indicator) for f in findings]

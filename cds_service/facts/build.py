"""Building an encounter's facts from the request: which Conditions are its diagnoses, their
codes (coded and candidate), their date of service, what their record documents.

Which Conditions are the encounter's diagnoses: those whose ``encounter`` references the
encounter in context; when none does (or there is no encounter), the patient's active
Conditions. Refuted and entered-in-error Conditions are never facts.

The date of service: the encounter's start; on order-sign without an encounter, the order's own
date (``authoredOn`` of the orders being signed), else today, never the date a problem-list
Condition happened to be recorded.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from ..terminology import Terminology
from .encounter import EncounterFacts
from .low_back import document_low_back
from .model import Code, Diagnosis, ProcedureFact, codings, day_of, is_active
from .picture import texts_of

_EXCLUDED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
_EXCLUDED_PROCEDURE_STATUS = frozenset({"entered-in-error", "not-done"})
_EXCLUDED_ORDER_STATUS = frozenset({"entered-in-error", "revoked"})


def build_facts(
    hook: str,
    context: dict[str, Any],
    prefetch: dict[str, dict | None],
    draft_orders: list[dict],
    terminology: Terminology,
    today: date | None = None,
) -> EncounterFacts:
    encounter = prefetch.get("encounter")
    encounter_id = context.get("encounterId")
    encounter_day = day_of(((encounter or {}).get("period") or {}).get("start"))
    today = today or datetime.now(UTC).date()
    order_day = _order_day(draft_orders, today) if hook == "order-sign" else None

    conditions = [c for c in _resources(prefetch.get("conditions"), "Condition") if _usable(c)]
    linked = {id(c) for c in conditions if _references(c.get("encounter"), "Encounter",
                                                         encounter_id)}
    fallback_day = encounter_day or order_day or today
    diagnoses, others = [], []
    for condition in conditions:
        on_encounter = id(condition) in linked
        day = encounter_day or order_day or day_of(condition.get("recordedDate")) or fallback_day
        codes = tuple(codings([condition.get("code") or {}]))
        fact = Diagnosis(condition, codes, day, on_encounter)
        is_encounter_diagnosis = on_encounter if linked else is_active(condition)
        (diagnoses if is_encounter_diagnosis else others).append(fact)
    for fact in diagnoses + others:
        if not fact.coded:
            fact.candidates = terminology.candidate_codes(fact.codes)
            if fact.candidates:
                # named by its concept's display where the client sent none
                fact.codes = tuple(
                    c if c.display else Code(c.system, c.code, terminology.display(c.system,
                                                                                   c.code))
                    for c in fact.codes)

    procedures, prior = [], []
    for resource in _resources(prefetch.get("procedures"), "Procedure"):
        if resource.get("status") in _EXCLUDED_PROCEDURE_STATUS:
            continue
        performed = _performed_day(resource)
        fact = ProcedureFact(resource, tuple(codings([resource.get("code") or {}])), performed,
                             is_order=False)
        in_encounter = _references(resource.get("encounter"), "Encounter", encounter_id) or (
            performed is not None and performed == encounter_day
        )
        if in_encounter:
            procedures.append(fact)
        elif performed is not None and performed < fallback_day:
            prior.append(fact)

    orders = [
        ProcedureFact(order, tuple(codings([order.get("code") or {}])), None, is_order=True)
        for order in draft_orders
        if order.get("resourceType") == "ServiceRequest"
        and order.get("status") not in _EXCLUDED_ORDER_STATUS
    ]
    coverages = [
        c for c in _resources(prefetch.get("coverage"), "Coverage")
        if c.get("status") in (None, "active")
    ]
    facts = EncounterFacts(
        hook=hook,
        date_of_service=fallback_day,
        encounter=encounter,
        diagnoses=diagnoses,
        other_conditions=others,
        orders=orders,
        procedures=procedures,
        prior_procedures=prior,
        coverages=coverages,
    )
    readings: dict[tuple[str, ...], Any] = {}  # the same texts are read once per request
    for fact in diagnoses:
        texts = tuple(texts_of(fact, facts))
        if texts not in readings:
            readings[texts] = terminology.text.read(*texts)
        fact.reading = readings[texts]
    facts.low_back = document_low_back(facts, terminology)
    return facts


def _order_day(draft_orders: list[dict], today: date) -> date:
    """An order's date of service: when it was authored, else today (the day it is signed)."""
    days = [d for d in (day_of(o.get("authoredOn")) for o in draft_orders) if d]
    return max(days) if days else today


def _resources(bundle: dict | None, resource_type: str) -> list[dict]:
    if not bundle:
        return []
    return [
        entry["resource"]
        for entry in bundle.get("entry", [])
        if entry.get("resource", {}).get("resourceType") == resource_type
    ]


def _status_code(concept: dict | None) -> str | None:
    for coding in (concept or {}).get("coding", []):
        if coding.get("code"):
            return coding["code"]
    return None


def _usable(condition: dict) -> bool:
    return _status_code(condition.get("verificationStatus")) not in _EXCLUDED_VERIFICATION


def _references(reference: dict | None, resource_type: str, resource_id: str | None) -> bool:
    if not reference or not resource_id:
        return False
    target = reference.get("reference") or ""
    return target == f"{resource_type}/{resource_id}" or target.endswith(
        f"/{resource_type}/{resource_id}"
    )


def _performed_day(procedure: dict) -> date | None:
    if "performedDateTime" in procedure:
        return day_of(procedure["performedDateTime"])
    period = procedure.get("performedPeriod") or {}
    return day_of(period.get("start"))

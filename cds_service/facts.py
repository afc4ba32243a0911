"""Normalised facts of one encounter: diagnoses and procedures as codings with their date of
service, and the payer. Rules read these, never the raw request.

Which Conditions are the encounter's diagnoses: those whose ``encounter`` references the
encounter in context; when none does (or there is no encounter), the patient's active
Conditions. Refuted and entered-in-error Conditions are never facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any

from .terminology import (
    ICD10CM_SYSTEM,
    PROCEDURE_SYSTEMS,
    SNOMED_SYSTEM,
    SYSTEM_ALIASES,
    normalize,
)

_EXCLUDED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
_INACTIVE_CLINICAL = frozenset({"inactive", "resolved", "remission"})
_EXCLUDED_PROCEDURE_STATUS = frozenset({"entered-in-error", "not-done"})
_EXCLUDED_ORDER_STATUS = frozenset({"entered-in-error", "revoked"})


@dataclass(frozen=True)
class Code:
    system: str
    code: str
    display: str | None = None


@dataclass
class Diagnosis:
    resource: dict
    codes: tuple[Code, ...]
    date_of_service: date
    on_encounter: bool

    @property
    def id(self) -> str | None:
        return self.resource.get("id")

    @property
    def reference(self) -> str | None:
        return f"Condition/{self.id}" if self.id else None

    @cached_property  # read by most rules; codes never change once the facts are built
    def icd10cm(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.codes if c.system == ICD10CM_SYSTEM)

    @cached_property
    def snomed(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.codes if c.system == SNOMED_SYSTEM)

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(n["text"] for n in self.resource.get("note", []) if n.get("text"))

    @property
    def code_text(self) -> str:
        return (self.resource.get("code") or {}).get("text") or ""

    @property
    def body_sites(self) -> tuple[Code, ...]:
        return tuple(_codings(self.resource.get("bodySite", [])))

    @property
    def body_site_texts(self) -> tuple[str, ...]:
        return tuple(
            text
            for site in self.resource.get("bodySite", [])
            for text in [site.get("text"), *(c.get("display") for c in site.get("coding", []))]
            if text
        )

    @property
    def evidence_codes(self) -> tuple[Code, ...]:
        return tuple(
            code
            for evidence in self.resource.get("evidence", [])
            for code in _codings(evidence.get("code", []))
        )

    @property
    def evidence_details(self) -> tuple[str, ...]:
        return tuple(
            ref["reference"]
            for ev in self.resource.get("evidence", [])
            for ref in ev.get("detail", [])
            if ref.get("reference")
        )

    @property
    def has_onset(self) -> bool:
        return any(key.startswith("onset") for key in self.resource)

    @property
    def is_active(self) -> bool:
        """Not inactive, resolved or in remission (no clinicalStatus: taken as active)."""
        return _is_active(self.resource)

    @property
    def has_severity(self) -> bool:
        return bool(self.resource.get("severity"))


@dataclass
class ProcedureFact:
    """A procedure ordered (ServiceRequest being signed) or performed (Procedure)."""

    resource: dict
    codes: tuple[Code, ...]
    performed_on: date | None
    is_order: bool

    @property
    def id(self) -> str | None:
        return self.resource.get("id")

    @property
    def reference(self) -> str | None:
        rid = self.id
        return f"{self.resource['resourceType']}/{rid}" if rid else None

    @property
    def billing_codes(self) -> tuple[str, ...]:
        """CPT / HCPCS codes, the codes payers' rules speak of."""
        return tuple(c.code for c in self.codes if c.system in PROCEDURE_SYSTEMS)

    @property
    def body_sites(self) -> tuple[Code, ...]:
        return tuple(_codings(self.resource.get("bodySite", [])))

    @property
    def reason_references(self) -> tuple[str, ...]:
        return tuple(
            r["reference"] for r in self.resource.get("reasonReference", []) if r.get("reference")
        )


@dataclass
class EncounterFacts:
    hook: str
    date_of_service: date
    encounter: dict | None
    diagnoses: list[Diagnosis]
    other_conditions: list[Diagnosis]
    orders: list[ProcedureFact]
    procedures: list[ProcedureFact]
    prior_procedures: list[ProcedureFact]
    coverages: list[dict]

    @property
    def encounter_reason_texts(self) -> tuple[str, ...]:
        if not self.encounter:
            return ()
        texts = []
        for reason in self.encounter.get("reasonCode", []):
            texts.append(reason.get("text") or "")
            texts.extend(c.get("display") or "" for c in reason.get("coding", []))
        return tuple(t for t in texts if t)

    @property
    def encounter_reason_codes(self) -> tuple[Code, ...]:
        if not self.encounter:
            return ()
        return tuple(_codings(self.encounter.get("reasonCode", [])))

    @property
    def billed_services(self) -> list[ProcedureFact]:
        """What this hook is about: the orders being signed, or the encounter's procedures."""
        return self.orders if self.hook == "order-sign" else self.procedures


def build_facts(
    hook: str,
    context: dict[str, Any],
    prefetch: dict[str, dict | None],
    draft_orders: list[dict],
    today: date | None = None,
) -> EncounterFacts:
    encounter = prefetch.get("encounter")
    encounter_id = context.get("encounterId")
    encounter_day = _day(((encounter or {}).get("period") or {}).get("start"))

    conditions = [c for c in _resources(prefetch.get("conditions"), "Condition") if _usable(c)]
    linked = {id(c) for c in conditions if _references(c.get("encounter"), "Encounter",
                                                         encounter_id)}
    fallback_day = encounter_day or today or datetime.now(UTC).date()
    diagnoses, others = [], []
    for condition in conditions:
        on_encounter = id(condition) in linked
        day = encounter_day or _day(condition.get("recordedDate")) or fallback_day
        fact = Diagnosis(condition, tuple(_codings([condition.get("code") or {}])), day,
                         on_encounter)
        is_encounter_diagnosis = on_encounter if linked else _is_active(condition)
        (diagnoses if is_encounter_diagnosis else others).append(fact)

    procedures, prior = [], []
    for resource in _resources(prefetch.get("procedures"), "Procedure"):
        if resource.get("status") in _EXCLUDED_PROCEDURE_STATUS:
            continue
        performed = _performed_day(resource)
        fact = ProcedureFact(resource, tuple(_codings([resource.get("code") or {}])), performed,
                             is_order=False)
        in_encounter = _references(resource.get("encounter"), "Encounter", encounter_id) or (
            performed is not None and performed == encounter_day
        )
        if in_encounter:
            procedures.append(fact)
        elif performed is not None and performed < fallback_day:
            prior.append(fact)

    orders = [
        ProcedureFact(order, tuple(_codings([order.get("code") or {}])), None, is_order=True)
        for order in draft_orders
        if order.get("resourceType") == "ServiceRequest"
        and order.get("status") not in _EXCLUDED_ORDER_STATUS
    ]
    coverages = [
        c for c in _resources(prefetch.get("coverage"), "Coverage")
        if c.get("status") in (None, "active")
    ]
    return EncounterFacts(
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


def _resources(bundle: dict | None, resource_type: str) -> list[dict]:
    if not bundle:
        return []
    return [
        entry["resource"]
        for entry in bundle.get("entry", [])
        if entry.get("resource", {}).get("resourceType") == resource_type
    ]


def _codings(concepts: list[dict]) -> list[Code]:
    codes = []
    for concept in concepts:
        for coding in concept.get("coding", []):
            system, code = coding.get("system"), coding.get("code")
            if not system or not code:
                continue
            system = SYSTEM_ALIASES.get(system, system)
            if system == ICD10CM_SYSTEM:
                code = normalize(code)
            codes.append(Code(system, code, coding.get("display")))
    return codes


def _status_code(concept: dict | None) -> str | None:
    for coding in (concept or {}).get("coding", []):
        if coding.get("code"):
            return coding["code"]
    return None


def _usable(condition: dict) -> bool:
    return _status_code(condition.get("verificationStatus")) not in _EXCLUDED_VERIFICATION


def _is_active(condition: dict) -> bool:
    codings = (condition.get("clinicalStatus") or {}).get("coding", [])
    return not any(coding.get("code") in _INACTIVE_CLINICAL for coding in codings)


def _references(reference: dict | None, resource_type: str, resource_id: str | None) -> bool:
    if not reference or not resource_id:
        return False
    target = reference.get("reference") or ""
    return target == f"{resource_type}/{resource_id}" or target.endswith(
        f"/{resource_type}/{resource_id}"
    )


def _day(value: str | None) -> date | None:
    # The local calendar date as written: a visit at 23:30-05:00 happened on that day.
    if not value or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _performed_day(procedure: dict) -> date | None:
    if "performedDateTime" in procedure:
        return _day(procedure["performedDateTime"])
    period = procedure.get("performedPeriod") or {}
    return _day(period.get("start"))

"""The encounter's facts as the rules read them: diagnoses with their coded and candidate
ICD-10-CM codes and what their record documents, procedures and orders, and the payer.

A code is *coded* only when it is on the record: an ICD-10-CM coding of the Condition. A code
the ConceptMaps give for a Condition coded only in SNOMED CT or in WHO ICD-10 is a *candidate*:
what the claim would carry once someone codes it, never a fact the rules judge as if it were
already on the claim.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from ..terminology import (
    ICD10CM_SYSTEM,
    PROCEDURE_SYSTEMS,
    SNOMED_SYSTEM,
    SYSTEM_ALIASES,
    normalize,
)

if TYPE_CHECKING:
    from ..text import Reading


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
    # ICD-10-CM codes the ConceptMaps give for a Condition with no ICD-10-CM coding (SNOMED CT,
    # WHO ICD-10), best first; empty when the Condition is coded in ICD-10-CM.
    candidates: tuple[str, ...] = ()
    # what the Condition's texts say (notes, code text, evidence, the Encounter's reason)
    reading: Reading | None = field(default=None, repr=False)

    @property
    def id(self) -> str | None:
        return self.resource.get("id")

    @property
    def reference(self) -> str | None:
        return f"Condition/{self.id}" if self.id else None

    @property
    def coded(self) -> tuple[str, ...]:
        """The ICD-10-CM codes on the record: the only codes a claim carries."""
        return self._coded

    icd10cm = coded  # the name most rules read

    @property
    def uncoded(self) -> bool:
        """No ICD-10-CM coding on the record, but candidates from another code system."""
        return not self._coded and bool(self.candidates)

    @property
    def snomed(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.codes if c.system == SNOMED_SYSTEM)

    @property
    def name(self) -> str:
        """How a card names the diagnosis: its ICD-10-CM codes, else its own words (code text
        or a coding's display), never a bare number."""
        if self._coded:
            return ", ".join(self._coded)
        displays = [c.display for c in self.codes if c.display]
        return (self.code_text or (displays[0] if displays else "")
                or "a diagnosis coded without ICD-10-CM")

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(n["text"] for n in self.resource.get("note", []) if n.get("text"))

    @property
    def code_text(self) -> str:
        return (self.resource.get("code") or {}).get("text") or ""

    @property
    def body_sites(self) -> tuple[Code, ...]:
        return tuple(codings(self.resource.get("bodySite", [])))

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
            for code in codings(evidence.get("code", []))
        )

    @property
    def evidence_texts(self) -> tuple[str, ...]:
        texts = []
        for evidence in self.resource.get("evidence", []):
            for concept in evidence.get("code", []):
                texts.append(concept.get("text") or "")
                texts.extend(c.get("display") or "" for c in concept.get("coding", []))
        return tuple(t for t in texts if t)

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
        return is_active(self.resource)

    @property
    def has_severity(self) -> bool:
        return bool(self.resource.get("severity"))

    def __post_init__(self) -> None:
        self._coded = tuple(c.code for c in self.codes if c.system == ICD10CM_SYSTEM)


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
        return tuple(codings(self.resource.get("bodySite", [])))

    @property
    def reason_references(self) -> tuple[str, ...]:
        return tuple(
            r["reference"] for r in self.resource.get("reasonReference", []) if r.get("reference")
        )


@dataclass
class EncounterRecord:
    """The encounter's record as the request carries it, read once: what the low back plan is
    worked out from (``low_back``) and, with that plan, what the rules read (``encounter``)."""

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
    def encounter_type_texts(self) -> tuple[str, ...]:
        return tuple(t.get("text") or "" for t in (self.encounter or {}).get("type", [])
                     if t.get("text"))

    @property
    def encounter_reason_codes(self) -> tuple[Code, ...]:
        if not self.encounter:
            return ()
        return tuple(codings(self.encounter.get("reasonCode", [])))

    @property
    def billed_services(self) -> list[ProcedureFact]:
        """What this hook is about: the orders being signed, or the encounter's procedures."""
        return self.orders if self.hook == "order-sign" else self.procedures

    @property
    def coded_on_encounter(self) -> frozenset[str]:
        """Every ICD-10-CM code on the encounter's diagnoses."""
        return frozenset(code for d in self.diagnoses for code in d.coded)

_INACTIVE_CLINICAL = frozenset({"inactive", "resolved", "remission"})


def is_active(condition: dict) -> bool:
    found = (condition.get("clinicalStatus") or {}).get("coding", [])
    return not any(coding.get("code") in _INACTIVE_CLINICAL for coding in found)


def codings(concepts: list[dict]) -> list[Code]:
    found = []
    for concept in concepts:
        for coding in concept.get("coding", []):
            system, code = coding.get("system"), coding.get("code")
            if not system or not code:
                continue
            system = SYSTEM_ALIASES.get(system, system)
            if system == ICD10CM_SYSTEM:
                code = normalize(code)
            found.append(Code(system, code, coding.get("display")))
    return found


def day_of(value: str | None) -> date | None:
    """The calendar date a FHIR date or dateTime names, as written: a visit at 23:30-05:00
    happened on that day. None when there is none, or it is not a date."""
    if not value or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None

"""Lookups shared by the procedure and payer rules: the codes being billed, the payer, the
diagnoses' low-back-pain family and spinal regions, and the resources their actions carry.

Every list these functions consult is data in ``valuesets/`` (see README, Rules and Payers).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from ..facts import Diagnosis, EncounterFacts, ProcedureFact
from ..facts.evidence import Evidence, unique
from ..facts.model import day_of
from ..terminology import (
    CANONICAL_BASE,
    CPT_SYSTEM,
    HCPCS_SYSTEM,
    ICD10CM_SYSTEM,
    PROCEDURE_SYSTEMS,
    SNOMED_SYSTEM,
    SOPT_SYSTEM,
    SOPT_SYSTEMS,
    MapTarget,
    Terminology,
)
from ._fhir import clone
from ._findings import Action, Suggestion
from ._memo import per_evaluation

# Names of the knowledge files (valuesets/*.json) these rules read
CPT_FACTS = "CptLbpProcedureFacts"
HCPCS_FACTS = "HcpcsLbpProcedureFacts"
JUDGED_PROCEDURES = "LbpJudgedProcedures"
PAIRING_MAP = "LbpDiagnosisToProcedures"
CMT_CODES = "ChiropracticSpinalManipulation"
SUBLUXATION_CODES = "MedicareCmtSubluxation"
SPINAL_REGIONS = "SpinalRegions"
REGION_MAP = "SpinalRegionOfDiagnosis"
SUBLUXATION_MAP = "SpinalRegionToSubluxation"
MEDICARE_REPLACEMENTS = "MedicareProcedureReplacements"
NCCI_CMT_PAIRS = "NcciCmtManualTherapy"
THERAPY_CODES = "MedicareOutpatientTherapy"
THERAPY_THRESHOLDS = "MedicareTherapyThresholds"
MEDICARE_COVERAGE = "MedicareCoverage"
PAYOR_WORDS_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/payor-name-words"
SPINAL_REGIONS_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/spinal-regions"

_WORDS = re.compile(r"[a-z0-9]+")


# -- the codes being billed ----------------------------------------------------------------------
@dataclass(frozen=True)
class BilledCode:
    """One CPT/HCPCS code of an order or a performed procedure, under its canonical system."""

    service: ProcedureFact
    system: str
    code: str


def canonical_system(system: str, code: str) -> str:
    """CPT (HCPCS Level I) codes start with a digit, HCPCS Level II codes with a letter; EHRs
    send either under several system URIs, the rules look them up under one each."""
    if system == CPT_SYSTEM:
        return CPT_SYSTEM
    return CPT_SYSTEM if code[:1].isdigit() else HCPCS_SYSTEM


def billed_codes(services: Iterable[ProcedureFact]) -> list[BilledCode]:
    found: list[BilledCode] = []
    for service in services:
        seen: set[tuple[str, str]] = set()
        for coding in service.codes:
            if coding.system not in PROCEDURE_SYSTEMS:
                continue
            key = (canonical_system(coding.system, coding.code), coding.code.strip().upper())
            if key not in seen:
                seen.add(key)
                found.append(BilledCode(service, *key))
    return found


def billed_in(services: Iterable[ProcedureFact], valueset: str, terminology: Terminology
              ) -> list[BilledCode]:
    """The codes of ``services`` in the knowledge file ``valueset`` (CMT, therapy codes)."""
    return [b for b in billed_codes(services)
            if terminology.in_valueset(valueset, b.system, b.code)]


def billed_for_medicare(services: Iterable[ProcedureFact], valueset: str,
                        facts: EncounterFacts, terminology: Terminology) -> list[BilledCode]:
    """``billed_in``, for a Medicare patient only: [] otherwise, and without a Coverage (the
    payer rules then stay quiet)."""
    billed = billed_in(services, valueset, terminology)
    if not billed or payer_is_medicare(facts, terminology) is not True:
        return []
    return billed


def encounter_services(facts: EncounterFacts) -> list[ProcedureFact]:
    """Everything done or being ordered in this encounter: on order-sign, the orders being
    signed and the procedures already performed; at discharge, the procedures."""
    if facts.hook == "order-sign":
        return [*facts.orders, *facts.procedures]
    return list(facts.procedures)


def procedure_display(terminology: Terminology, system: str, code: str) -> str | None:
    """Our own short words for a CPT/HCPCS code (never the AMA descriptor), if we name it."""
    table = CPT_FACTS if system == CPT_SYSTEM else HCPCS_FACTS
    concept = terminology.store.concept(table, code)
    return concept.get("display") if concept else None


def concept_property(concept: dict | None, name: str) -> Any:
    for prop in (concept or {}).get("property", []):
        if prop.get("code") == name:
            return next((v for k, v in prop.items() if k.startswith("value")), None)
    return None


def with_procedure_code(service: ProcedureFact, old_code: str, system: str, code: str,
                        display: str | None) -> dict:
    """The whole ServiceRequest or Procedure with its CPT/HCPCS coding ``old_code`` replaced;
    other codings (SNOMED CT, local codes) are kept."""
    resource = clone(service.resource)
    concept = resource.setdefault("code", {})
    new = {"system": system, "code": code}
    if display:
        new["display"] = display
    codings: list[dict] = []
    for coding in concept.get("coding", []):
        if coding.get("system") in PROCEDURE_SYSTEMS and (
            (coding.get("code") or "").strip().upper() == old_code
        ):
            if new not in codings:
                codings.append(new)
        else:
            codings.append(coding)
    if new not in codings:
        codings.append(new)
    concept["coding"] = codings
    if concept.get("text") and display:
        concept["text"] = display
    return resource


def procedure_replacement(billed: BilledCode, system: str, code: str, display: str | None,
                          recommended: bool = False) -> Suggestion:
    """The suggestion that bills ``code`` in place of ``billed`` on its order or procedure
    (wording keys: labels.replace, actions.replace)."""
    service = billed.service
    return Suggestion(
        "replace",
        [Action("update", "replace", resource=with_procedure_code(
            service, billed.code, system, code, display))],
        params={"old": billed.code, "new": code, "display": display or "",
                "ordered": service.is_order},
        is_recommended=recommended,
    )


# -- the payer -------------------------------------------------------------------------------------
@per_evaluation
def payer_is_medicare(facts: EncounterFacts, terminology: Terminology) -> bool | None:
    """True when a Coverage in force on the date of service is Medicare, False when there are
    Coverages and none is, None when there is no Coverage (payer rules then stay quiet)."""
    coverages = [c for c in facts.coverages if _in_force(c, facts.date_of_service)]
    if not coverages:
        return None
    return any(_is_medicare(coverage, terminology) for coverage in coverages)


def _is_medicare(coverage: dict, terminology: Terminology) -> bool:
    sopt = [coding.get("code") for coding in (coverage.get("type") or {}).get("coding", [])
            if coding.get("system") in SOPT_SYSTEMS and coding.get("code")]
    if sopt:  # the Source of Payment Typology decides when the EHR sends it
        return any(terminology.in_valueset(MEDICARE_COVERAGE, SOPT_SYSTEM, code.strip())
                   for code in sopt)
    for payor in coverage.get("payor", []):
        for word in _WORDS.findall((payor.get("display") or "").lower()):
            if terminology.in_valueset(MEDICARE_COVERAGE, PAYOR_WORDS_SYSTEM, word):
                return True
    return False


def _in_force(coverage: dict, day: date) -> bool:
    period = coverage.get("period") or {}
    # a Coverage the rules read was validated in full: its period's dates are dateTime strings
    start, end = day_of(period.get("start")), day_of(period.get("end"))
    return (start is None or start <= day) and (end is None or day <= end)


# -- diagnoses -------------------------------------------------------------------------------------
def icd_codes(diagnosis: Diagnosis, terminology: Terminology) -> tuple[str, ...]:
    """The ICD-10-CM codes on the record: a candidate supports no claim line."""
    return diagnosis.coded


def lineage(code: str, terminology: Terminology, on: date | None = None) -> Iterator[str]:
    """The code, then its parents up to the ICD-10-CM category."""
    current: str | None = code
    while current:
        yield current
        current = terminology.icd.parent(current, on)


def map_with_ancestors(terminology: Terminology, map_name: str, code: str,
                       on: date | None = None) -> list[MapTarget]:
    """The targets of the nearest of ``code`` and its ancestors that the ConceptMap lists."""
    for ancestor in lineage(code, terminology, on):
        targets = terminology.translate(map_name, ICD10CM_SYSTEM, ancestor)
        if targets:
            return targets
    return []


def has_subluxation(facts: EncounterFacts, terminology: Terminology) -> bool:
    return any(terminology.in_valueset(SUBLUXATION_CODES, ICD10CM_SYSTEM, code)
               for diagnosis in facts.diagnoses for code in icd_codes(diagnosis, terminology))


def region_order(terminology: Terminology) -> list[str]:
    return list(terminology.store.concepts(SPINAL_REGIONS))


def documented_regions(diagnoses: Iterable[Diagnosis], terminology: Terminology) -> list[str]:
    """The spinal regions the diagnoses document, in head-to-pelvis order: from their
    ICD-10-CM codes (M99.0x and the codes whose title fixes the region, with ancestors),
    their body-site codes, and the words of their body-site texts."""
    found: set[str] = set()
    words = _region_words(terminology)
    for diagnosis in diagnoses:
        # the region is documentation: an uncoded diagnosis's candidate says it as well
        for code in diagnosis.coded or diagnosis.candidates:
            found.update(t.code for t in map_with_ancestors(terminology, REGION_MAP, code))
        for site in diagnosis.body_sites:
            if site.system == SNOMED_SYSTEM:
                found.update(t.code for t in terminology.translate(REGION_MAP, SNOMED_SYSTEM,
                                                                   site.code))
        for text in diagnosis.body_site_texts:
            padded = f" {' '.join(_WORDS.findall(text.lower()))} "
            found.update(region for region, phrases in words.items()
                         if any(f" {phrase} " in padded for phrase in phrases))
    return [region for region in region_order(terminology) if region in found]


def _region_words(terminology: Terminology) -> dict[str, list[str]]:
    table = {}
    for region, concept in terminology.store.concepts(SPINAL_REGIONS).items():
        table[region] = [" ".join(_WORDS.findall(str(p.get("valueString", "")).lower()))
                         for p in concept.get("property", []) if p.get("code") == "text-word"]
    return table


def billed_evidence(*billed: BilledCode) -> list[Evidence]:
    """The coded elements a procedure finding rests on: each order's or procedure's code, with
    the day it was performed or ordered."""
    found = []
    for item in billed:
        service = item.service
        day = service.performed_on.isoformat() if service.performed_on else (
            (service.resource.get("authoredOn") or "")[:10] or None)
        found.append(Evidence("code", "billed", service.reference, "code", system=item.system,
                              code=item.code, date=day))
    return unique(found)

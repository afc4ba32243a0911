"""Building the FHIR resources that suggestion actions carry."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import date
from typing import Any

import orjson

from ..facts import Diagnosis, EncounterFacts
from ..terminology import ICD10CM_SYSTEM, ICD10CM_SYSTEMS, Terminology, normalize

_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-category"
_CLINICAL_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_VERIFICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def clone(resource: Any) -> Any:
    """A deep copy of JSON data (a suggestion's resource must not share parts with the
    request's); through orjson, many times faster than copy.deepcopy on a Condition."""
    try:
        return orjson.loads(orjson.dumps(resource))
    except (TypeError, orjson.JSONEncodeError):  # a lone surrogate, an integer past 64 bits
        return copy.deepcopy(resource)


def icd_coding(code: str, terminology: Terminology, on: date | None = None) -> dict:
    coding = {"system": ICD10CM_SYSTEM, "code": code}
    display = terminology.icd.description(code, on)
    if display:
        coding["display"] = display
    return coding


def with_icd_code(diagnosis: Diagnosis, old: Iterable[str], new: str, terminology: Terminology
            ) -> dict:
    """The whole Condition with its ICD-10-CM codings ``old`` replaced by the one code ``new``
    (in the place of the first of them), or ``new`` appended when it had none of them (a
    Condition coded only in SNOMED CT keeps its SNOMED CT coding). Other codings are kept."""
    old = set(old)
    condition = clone(diagnosis.resource)
    concept = condition.setdefault("code", {})
    codings, placed = [], False
    for coding in concept.get("coding", []):
        is_old = (coding.get("system") in ICD10CM_SYSTEMS
                  and normalize(coding.get("code", "")) in old)
        if not is_old:
            codings.append(coding)
        elif not placed:
            codings.append(icd_coding(new, terminology, diagnosis.date_of_service))
            placed = True
    if not placed:
        codings.append(icd_coding(new, terminology, diagnosis.date_of_service))
    concept["coding"] = codings
    return condition


def without_codes(diagnosis: Diagnosis, codes: Iterable[str]) -> dict | None:
    """The whole Condition without its ICD-10-CM codings ``codes``; None when nothing would be
    left of its code."""
    codes = set(codes)
    condition = clone(diagnosis.resource)
    concept = condition.get("code") or {}
    kept = [c for c in concept.get("coding", [])
            if not (c.get("system") in ICD10CM_SYSTEMS
                    and normalize(c.get("code", "")) in codes)]
    if not kept:
        return None
    concept["coding"] = kept
    return condition


def new_condition(facts: EncounterFacts, code: str, terminology: Terminology,
                  template: Diagnosis | None = None) -> dict:
    """A new encounter-diagnosis Condition for ``code``, for the patient and encounter in hand."""
    condition: dict = {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": _CLINICAL_SYSTEM, "code": "active"}]},
        "verificationStatus": {"coding": [{"system": _VERIFICATION_SYSTEM, "code": "confirmed"}]},
        "category": [{"coding": [{"system": _CATEGORY_SYSTEM, "code": "encounter-diagnosis"}]}],
        "code": {"coding": [icd_coding(code, terminology, facts.date_of_service)]},
    }
    subject = _subject(facts, template)
    if subject:
        condition["subject"] = subject
    if facts.encounter and facts.encounter.get("id"):
        condition["encounter"] = {"reference": f"Encounter/{facts.encounter['id']}"}
    return condition


def _subject(facts: EncounterFacts, template: Diagnosis | None) -> dict | None:
    candidates = [template] if template else []
    candidates += facts.diagnoses
    for diagnosis in candidates:
        if diagnosis and diagnosis.resource.get("subject"):
            return clone(diagnosis.resource["subject"])
    if facts.encounter and facts.encounter.get("subject"):
        return clone(facts.encounter["subject"])
    for order in facts.orders:
        if order.resource.get("subject"):
            return clone(order.resource["subject"])
    return None

"""The ICD-10-CM code of a documented low back finding, as billable on the date of service.

Codes come from the ConceptMap LbpDocumentedFindingToIcd10cm (``valuesets/``); a code not yet
or no longer billable on the day gives way to the code then in force above it.
"""

from __future__ import annotations

from datetime import date

from ..terminology import CANONICAL_BASE, ICD10CM_SYSTEM, Terminology

FINDING_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/lbp-documented-finding"
FINDING_MAP = "LbpDocumentedFindingToIcd10cm"


def billable_on(terminology: Terminology, code: str, day: date) -> str | None:
    """``code`` if billable on ``day``; else the code then in force above it (M51.360 on a 2023
    date of service gives M51.36); else None."""
    icd = terminology.icd
    if icd.is_billable(code, day):
        return code
    replacements = icd.replacements(code, day)
    if len(replacements) == 1 and code.startswith(replacements[0]):
        return replacements[0]
    return None


def finding_code(terminology: Terminology, finding: str, day: date) -> str | None:
    """The ICD-10-CM code for a documented finding (ConceptMap LbpDocumentedFindingToIcd10cm),
    as billable on ``day``."""
    for target in terminology.translate(FINDING_MAP, FINDING_SYSTEM, finding):
        if target.system == ICD10CM_SYSTEM and target.code:
            return billable_on(terminology, target.code, day)
    return None

"""[therapy-modifier] At discharge, outpatient therapy procedures for a Medicare patient: GP on
every line, and KX once the year's therapy spend passes the threshold.

Source: Claims Processing Manual (Pub 100-04) Ch. 5 §20.1 (GP/GO/GN on every outpatient therapy
line) and the KX threshold mechanism ([V] NGS, Noridian); amounts CY2025 $2,410 and CY2026
$2,480 [S]: ../shared/domain/coding-facts.md §0 row 9, §4 (GP and KX rows), §5 trigger 7;
issue 4 rule 7. Codes in ``valuesets/medicare-outpatient-therapy.json`` (CPT 97xxx and G0283),
amounts by year in ``valuesets/medicare-therapy-thresholds.json``; a year not there gets no
amount. Payer from the Coverage; without one, quiet.
"""

from __future__ import annotations

from ..facts import EncounterFacts
from ..terminology import Terminology
from . import Finding
from ._procedures import (
    THERAPY_CODES,
    THERAPY_THRESHOLDS,
    billed_codes,
    concept_property,
    payer_is_medicare,
    procedure_display,
)

RULE_ID = "therapy-modifier"
HOOKS = ("encounter-discharge",)


def evaluate(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    therapy = [b for b in billed_codes(facts.procedures)
               if terminology.in_valueset(THERAPY_CODES, b.system, b.code)]
    if not therapy or payer_is_medicare(facts, terminology) is not True:
        return []
    year = facts.date_of_service.year
    concept = terminology.store.concept(THERAPY_THRESHOLDS, f"CY{year}")
    kx = concept_property(concept, "kx-threshold-usd")
    review = concept_property(concept, "medical-review-threshold-usd")
    codes = list(dict.fromkeys((b.system, b.code) for b in therapy))
    return [Finding(RULE_ID, params={
        "codes": [(code, procedure_display(terminology, system, code) or "")
                  for system, code in codes],
        "year": year,
        "kx_threshold": _dollars(kx),
        "review_threshold": _dollars(review),
        "evidence": concept_property(concept, "evidence") or "",
    })]


def _dollars(amount) -> str:
    return f"${float(amount):,.0f}" if amount is not None else ""

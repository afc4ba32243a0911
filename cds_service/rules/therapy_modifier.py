"""[therapy-modifier] At discharge, outpatient therapy procedures for a Medicare patient: GP on
every line, and KX once the year's therapy spend passes the threshold.

Sources (ids in valuesets/sources.json): the Medicare Claims Processing Manual, Pub 100-04 Ch. 5
§20.1 (GP / GO / GN on every outpatient therapy line); the KX modifier threshold and the
targeted medical review threshold by calendar year (CMS Therapy Services; Noridian KX modifier
thresholds for CY2022-CY2024). Codes in ``valuesets/medicare-outpatient-therapy.json`` (CPT
97xxx and G0283), amounts by year in ``valuesets/medicare-therapy-thresholds.json``; a year not
there gets no amount. Payer from the Coverage; without one, quiet.
"""

from __future__ import annotations

from ..facts import EncounterFacts
from ..terminology import Terminology
from ._findings import Finding
from ._procedures import (
    THERAPY_CODES,
    THERAPY_THRESHOLDS,
    billed_evidence,
    billed_for_medicare,
    concept_property,
    procedure_display,
)

RULE_ID = "therapy-modifier"
HOOKS = ("encounter-discharge",)
# Public sources (valuesets/sources.json) this rule rests on
SOURCES = (
    "cms-pub100-04-ch5-s20-1",
    "cms-therapy-services",
    "noridian-kx-thresholds",
)
# The knowledge files (valuesets/*.json, by name) this rule reads, served at /valuesets/{id}
VALUESETS = (
    "MedicareOutpatientTherapy",
    "MedicareTherapyThresholds",
    "CptLbpProcedureFacts",
    "HcpcsLbpProcedureFacts",
    "MedicareCoverage",
    "PayorNameWords",
)


def evaluate(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    therapy = billed_for_medicare(facts.procedures, THERAPY_CODES, facts, terminology)
    if not therapy:
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
    }, evidence=billed_evidence(*therapy))]


def _dollars(amount) -> str:
    return f"${float(amount):,.0f}" if amount is not None else ""

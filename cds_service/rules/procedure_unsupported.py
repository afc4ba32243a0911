"""[procedure-unsupported] An ordered or performed procedure that no diagnosis of the encounter
plausibly supports.

The pairing map (``valuesets/lbp-diagnosis-to-procedures.json``) is clinical plausibility for
the low-back-pain family, not payer policy: the Medicare therapy LCDs and billing articles (LCD
L33631, LCD L34428, Article A57067) ask for a valid ICD-10-CM code at the highest specificity and
skilled, medically necessary therapy, but restrict no therapy code to particular diagnoses, so
no diagnosis restriction is encoded. Whether a payer restricts one is its own policy: check your
payer's. Sources (ids in valuesets/sources.json) as listed in SOURCES.

Judged only: procedures of ``LbpJudgedProcedures`` (the low-back-pain treatments, cardiac
rehabilitation, wound care), and only when every diagnosis of the encounter belongs to the
low-back-pain family. A diagnosis outside it may well support the procedure (a wound, heart
disease), and a flu shot is not this service's business: both stay quiet.
"""

from __future__ import annotations

from ..facts import EncounterFacts
from ..terminology import Terminology
from ._findings import Action, Finding, Suggestion
from ._procedures import (
    JUDGED_PROCEDURES,
    PAIRING_MAP,
    billed_codes,
    billed_evidence,
    icd_codes,
    map_with_ancestors,
    procedure_display,
)

RULE_ID = "procedure-unsupported"
HOOKS = ("order-sign", "encounter-discharge")
# Public sources (valuesets/sources.json) this rule rests on
SOURCES = (
    "lcd-l33631",
    "lcd-l34428",
    "article-a57067",
    "cdc-icd10cm-fy2026-april",
)
# The knowledge files (valuesets/*.json, by name) this rule reads, served at /valuesets/{id}
VALUESETS = (
    "LbpJudgedProcedures",
    "LbpDiagnosisToProcedures",
    "LbpTreatments",
    "CptLbpProcedureFacts",
    "HcpcsLbpProcedureFacts",
)


def evaluate(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    services = facts.billed_services
    if not services or not facts.diagnoses:
        return []
    supported: set[tuple[str, str]] = set()
    diagnoses: list[tuple[str, str]] = []
    for diagnosis in facts.diagnoses:
        codes = icd_codes(diagnosis, terminology)
        if not codes:
            return []  # a diagnosis we cannot read might support anything
        for code in codes:
            targets = map_with_ancestors(terminology, PAIRING_MAP, code,
                                         diagnosis.date_of_service)
            if not targets:
                return []  # outside the low-back-pain family: not ours to judge
            supported.update((t.system, t.code) for t in targets)
            diagnoses.append((code, terminology.icd.description(
                code, diagnosis.date_of_service) or ""))
    findings = []
    for billed in billed_codes(services):
        if (billed.system, billed.code) in supported or not terminology.in_valueset(
            JUDGED_PROCEDURES, billed.system, billed.code
        ):
            continue
        service = billed.service
        suggestions = []
        if service.is_order and service.reference:
            suggestions.append(Suggestion(
                "remove", [Action("delete", "remove", resource_id=service.reference)],
                params={"code": billed.code},
            ))
        findings.append(Finding(
            RULE_ID,
            params={
                "code": billed.code,
                "display": procedure_display(terminology, billed.system, billed.code) or "",
                "ordered": service.is_order,
                "diagnoses": diagnoses,
            },
            suggestions=suggestions,
            evidence=billed_evidence(billed),
        ))
    return findings

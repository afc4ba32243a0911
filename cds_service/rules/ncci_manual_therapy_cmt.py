"""[ncci-manual-therapy-cmt] Manual therapy 97140 with chiropractic manipulation in the same
encounter: an NCCI procedure-to-procedure pair.

Sources (ids in valuesets/sources.json): the Medicare NCCI PTP edits, practitioner table:
98940/98941/98942 (column 1) with 97140 (column 2), bundled on the same anatomic region, payable
with modifier 59 or XS only when the manual therapy is to a different region, with the claim's
diagnosis pointer for 97140 on a diagnosis of that region. The pair is not checked against a
given quarter's table: check the current one. Pairs in ``valuesets/ncci-cmt-manual-therapy.json``.
NCCI is Medicare's edit set and many commercial payers apply it: the card is ``info`` for every
payer.
"""

from __future__ import annotations

from ..facts import EncounterFacts
from ..terminology import Terminology
from ._findings import Finding
from ._procedures import (
    NCCI_CMT_PAIRS,
    billed_codes,
    billed_evidence,
    documented_regions,
    encounter_services,
    procedure_display,
)

RULE_ID = "ncci-manual-therapy-cmt"
HOOKS = ("order-sign", "encounter-discharge")
# Public sources (valuesets/sources.json) this rule rests on
SOURCES = (
    "cms-ncci-ptp-practitioner",
)
# The knowledge files (valuesets/*.json, by name) this rule reads, served at /valuesets/{id}
VALUESETS = (
    "NcciCmtManualTherapy",
    "SpinalRegionOfDiagnosis",
    "SpinalRegions",
)


def evaluate(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    if not facts.billed_services:
        return []
    new = {id(service) for service in facts.billed_services}
    codes = billed_codes(encounter_services(facts))
    findings = []
    seen: set[tuple[str, str]] = set()
    for first in codes:
        for target in terminology.translate(NCCI_CMT_PAIRS, first.system, first.code):
            for second in codes:
                if (second.system, second.code) != (target.system, target.code):
                    continue
                if id(first.service) not in new and id(second.service) not in new:
                    continue  # both were judged when they were signed
                if (first.code, second.code) in seen:
                    continue
                seen.add((first.code, second.code))
                findings.append(Finding(RULE_ID, params={
                    "cmt": first.code,
                    "cmt_display": procedure_display(terminology, first.system, first.code) or "",
                    "manual": second.code,
                    "manual_display":
                        procedure_display(terminology, second.system, second.code) or "",
                    "regions": documented_regions(facts.diagnoses, terminology),
                }, evidence=billed_evidence(first, second)))
    return findings

"""[specificity-vertebrogenic] Nonspecific low back pain coded while the provider documents
vertebrogenic (vertebral endplate) low back pain, which has its own code, M54.51.

Sources (ids in valuesets/sources.json): the CDC ICD-10-CM tabular, FY2026 (April 2026): M54.51
Vertebrogenic low back pain, inclusion term "Low back vertebral endplate pain", for when the
provider documents it; M54.51 is billable from 2021-10-01
(``valuesets/icd10cm-billable-periods.json``). Speaks only where no injury, disc or radicular
finding already claims the diagnosis (``Picture.owner``): those codes are more specific still,
and M54.5 Excludes1 several of them.
"""

from __future__ import annotations

from ..facts import EncounterFacts
from ..terminology import Terminology
from . import Finding
from ._lbp import code_change, encounter_icd, finding_code, offered_params, owned_pictures

RULE_ID = "specificity-vertebrogenic"
HOOKS = ("order-sign", "encounter-discharge")
# Public sources (valuesets/sources.json) this rule rests on
SOURCES = (
    "cdc-icd10cm-fy2026-april",
)
# The knowledge files (valuesets/*.json, by name) this rule reads, served at /valuesets/{id}
VALUESETS = (
    "LowBackPainNonspecific",
    "LbpDocumentedFindingToIcd10cm",
    "Icd10cmBillablePeriods",
    "SnomedLowBackToIcd10cm",
)


def evaluate(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    findings = []
    on_encounter = encounter_icd(facts, terminology)
    # only a diagnosis no other specificity rule speaks for
    for seen in owned_pictures(facts, terminology, None):
        diagnosis = seen.diagnosis
        if not seen.reading.present("vertebrogenic"):
            continue
        day = diagnosis.date_of_service
        code = finding_code(terminology, "vertebrogenic-low-back-pain", day)
        if not code or code in on_encounter:
            continue
        suggestion = code_change("replace_with", facts, diagnosis, list(seen.old_codes), code,
                                 terminology)
        findings.append(Finding(RULE_ID, params={
            **offered_params(seen, [suggestion]),
            "new": code,
            "display": suggestion.params["display"],
        }, suggestions=[suggestion]))
    return findings

"""[specificity-vertebrogenic] Nonspecific low back pain coded while the provider documents
vertebrogenic (vertebral endplate) low back pain, which has its own code, M54.51.

Sources (ids in valuesets/sources.json): the CDC ICD-10-CM tabular, FY2026 (April 2026): M54.51
Vertebrogenic low back pain, inclusion term "Low back vertebral endplate pain", for when the
provider documents it; M54.51 is billable from 2021-10-01
(``valuesets/icd10cm-billable-periods.json``). Speaks only where no injury, disc or radicular
finding already claims the diagnosis (``facts.low_back.speaking_family``): those codes are more
specific still, and M54.5 Excludes1 several of them.
"""

from __future__ import annotations

from ..facts import EncounterFacts
from ..terminology import Terminology
from ._findings import Finding
from ._options import vertebrogenic_options
from ._pictures import owned_pictures
from ._suggestions import changes, offered_params
from ._uncoded import specific_plan_suggestions

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
    # only a diagnosis no other specificity rule speaks for
    for seen in owned_pictures(facts, None, terminology):
        diagnosis = seen.diagnosis
        found = changes(vertebrogenic_options(seen, diagnosis.date_of_service, terminology),
                        facts, diagnosis, seen.old_codes, terminology)
        if not found:
            continue
        suggestion = found[0]
        findings.append(Finding(RULE_ID, params={
            **offered_params(seen, [suggestion]),
            "new": suggestion.params["new"],
            "display": suggestion.params["display"],
        }, suggestions=[suggestion], target=diagnosis.reference,
            evidence=seen.evidence("vertebrogenic")))
    planned = specific_plan_suggestions(facts, terminology, None)
    if planned is not None:
        plan, suggestions = planned
        findings.append(Finding(RULE_ID, params={
            **offered_params(plan.host, suggestions),
            "new": suggestions[0].params["new"],
            "display": suggestions[0].params["display"],
        }, suggestions=suggestions, target=plan.host.diagnosis.reference,
            evidence=plan.host.evidence("vertebrogenic")))
    return findings

"""[invalid-code] An ICD-10-CM code that is not billable on the date of service.

Sources (ids in valuesets/sources.json): ICD-10-CM Official Guidelines I.B.2 ("a code is invalid
if it has not been coded to the full number of characters required"); the code set in force on
the date of service applies, each fiscal year's from October 1 to September 30 (CMS ICD-10 code
files); code data from the CDC ICD-10-CM tabular, FY2026 (April 2026), with the dated history in
``valuesets/icd10cm-billable-periods.json``: M54.5 billable in FY2021 and a header from
2021-10-01, M51.36 / M51.37 headers from 2024-10-01 (FY2025). FY2027 is in force from
2026-10-01.
"""

from __future__ import annotations

from ..facts import EncounterFacts
from ..terminology import Terminology
from . import Action, Finding, Suggestion
from ._fhir import with_icd_code

RULE_ID = "invalid-code"
HOOKS = ("order-sign", "encounter-discharge")
# Public sources (valuesets/sources.json) this rule rests on
SOURCES = (
    "icd10cm-guidelines-i-b-2",
    "cms-icd10-code-sets",
    "cdc-icd10cm-fy2021",
    "cdc-icd10cm-fy2025-april",
    "cdc-icd10cm-fy2026-april",
    "cdc-icd10cm-fy2027",
)
# The knowledge files (valuesets/*.json, by name) this rule reads, served at /valuesets/{id}
VALUESETS = (
    "Icd10cmBillablePeriods",
    "SnomedLowBackToIcd10cm",
)


def evaluate(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    icd = terminology.icd
    findings = []
    for diagnosis in facts.diagnoses:
        day = diagnosis.date_of_service
        for code in diagnosis.icd10cm:
            if icd.is_billable(code, day):
                continue
            replacements = icd.replacements(code, day)
            retired, not_yet = icd.retired_on(code, day), icd.starts_after(code, day)
            if retired:
                reason = "retired"
            elif not_yet:
                reason = "not_yet_valid"
            elif not icd.exists(code):
                reason = "unknown"
            elif replacements and all(r.startswith(code) for r in replacements):
                reason = "needs_more_characters"
            else:
                reason = "not_billable"
            findings.append(
                Finding(
                    RULE_ID,
                    params={
                        "code": code,
                        "description": icd.description(code) or "",
                        "date": day.isoformat(),
                        "reason": reason,
                        "changed_on": (retired or not_yet or day).isoformat(),
                        "replacements": [(r, icd.description(r) or "") for r in replacements],
                    },
                    suggestions=[
                        Suggestion(
                            "replace",
                            params={"old": code, "new": new, "display": icd.description(new)},
                            actions=[
                                Action("update", "replace",
                                       resource=with_icd_code(diagnosis, code, new, terminology))
                            ],
                        )
                        for new in replacements
                    ],
                )
            )
    return findings

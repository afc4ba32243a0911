"""[invalid-code] An ICD-10-CM code that is not billable on the date of service.

Source: ICD-10-CM Official Guidelines for Coding and Reporting, Section I.B.2 ("a code is
invalid if it has not been coded to the full number of characters required"), HIPAA code-set
rules (the code set in force on the date of service applies, fiscal years starting October 1);
code data from the CDC ICD-10-CM April 1, 2026 release, dated history in
``valuesets/icd10cm-billable-periods.json`` (M54.5 a header from 2021-10-01; M51.36/M51.37 from
2024-10-01). See ../shared/domain/coding-facts.md §0 rows 2 and 5, §5 denial trigger 1.
"""

from __future__ import annotations

from ..facts import EncounterFacts
from ..terminology import Terminology
from . import Action, Finding, Suggestion
from ._fhir import with_icd_code

RULE_ID = "invalid-code"
HOOKS = ("order-sign", "encounter-discharge")


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
            elif not icd.exists(code, day):
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
                        "description": icd.description(code, day) or "",
                        "release": icd.release_label(day),
                        "date": day.isoformat(),
                        "reason": reason,
                        "changed_on": (retired or not_yet or day).isoformat(),
                        "replacements": [(r, icd.description(r, day) or "")
                                         for r in replacements],
                    },
                    suggestions=[
                        Suggestion(
                            "replace",
                            params={"old": code, "new": new,
                                    "display": icd.description(new, day)},
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

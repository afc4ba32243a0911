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

from ..facts import Diagnosis, EncounterFacts
from ..facts.evidence import Evidence, diagnosis_codes
from ..facts.low_back import speaking_family
from ..terminology import Terminology
from ._fhir import without_codes
from ._findings import MAX_FINDINGS_PER_RULE, Action, Finding, Suggestion
from ._options import Option, disc_radicular_option, more_specific_options
from ._pictures import recoding
from ._suggestions import changes

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
        if len(findings) >= MAX_FINDINGS_PER_RULE:
            break
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
            suggestions = changes([Option("replace", new) for new in replacements], facts,
                                  diagnosis, [code], terminology)
            documented = _documented(facts, diagnosis, code, terminology)
            if documented:
                suggestions = documented
            if not suggestions and replacements:
                # every replacement is coded already, or a code on the record stands for it
                removal = _removal(diagnosis, code)
                suggestions = [Suggestion("remove", [removal], params={"old": code})] if (
                    removal) else []
            offered = [s.params["new"] for s in suggestions if s.params.get("new")]
            replacements = offered or replacements
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
                        "documented": ", ".join(sorted(_what(facts, diagnosis))) if (
                            documented) else "",
                    },
                    suggestions=suggestions,
                    target=diagnosis.reference,
                    evidence=diagnosis_codes(diagnosis, [code]) + (
                        _evidence_of_documented(facts, diagnosis) if documented else []),
                )
            )
    return findings


def _documented(facts: EncounterFacts, diagnosis: Diagnosis, code: str,
                terminology: Terminology) -> list[Suggestion]:
    """For a nonspecific low back pain code that is not billable (M54.5 after 2021-10-01) on a
    diagnosis whose record documents more: the code the documentation supports, as the
    specificity rules would offer it (they leave this diagnosis to this card)."""
    group = facts.low_back
    seen = group.of(diagnosis) if group else None
    if seen is None:
        return []
    day = diagnosis.date_of_service
    if code in seen.old_codes and not group.is_led(diagnosis):
        old, merged = recoding(seen)
        return changes(more_specific_options(seen, day, terminology), facts, diagnosis, old,
                       terminology, merged, label="replace")
    option = disc_radicular_option(seen, code, day, terminology)
    if option is None:
        return []
    return changes([option], facts, diagnosis, [code], terminology,
                   group.radicular_coded_apart, label="replace")


def _removal(diagnosis: Diagnosis, code: str) -> Action | None:
    resource = without_codes(diagnosis, [code])
    if resource is not None:
        return Action("update", "remove_invalid", resource=resource)
    if diagnosis.reference:
        return Action("delete", "delete_invalid", resource_id=diagnosis.reference)
    return None


def _evidence_of_documented(facts: EncounterFacts, diagnosis: Diagnosis) -> list[Evidence]:
    """What the more specific code offered rests on: the documentation of the family that
    speaks for the diagnosis (radicular features for a coded disc)."""
    seen = facts.low_back.of(diagnosis) if facts.low_back else None
    if seen is None:
        return []
    return [e for e in seen.evidence(speaking_family(seen) or "radicular")
            if e.finding != "coded"]


def _what(facts: EncounterFacts, diagnosis: Diagnosis) -> set[str]:
    seen = facts.low_back.of(diagnosis) if facts.low_back else None
    if seen is None:
        return set()
    return {*seen.radicular.kinds, *seen.disc.kinds, *seen.injury.kinds} | (
        {"vertebrogenic pain"} if seen.vertebrogenic else set())

"""[codeset-outdated] The ICD-10-CM codes were judged with a release older than the one in force
on the date of service, because that release is not loaded.

Sources (ids in valuesets/sources.json): CMS ICD-10 code files (each fiscal year's ICD-10-CM
codes are for encounters from October 1 to September 30; some years have an April 1 update);
the CDC ICD-10-CM tabular of each release.

One info card per response, only when an ICD-10-CM code (on the record, or a candidate a
suggestion would add) was judged for a date past the window of every loaded release: it names
the release that judged the codes, the one that applies, the codes the judging release does not
know (they were not called invalid: they may be new), and how an administrator loads the
release (``cds-service codeset add``).
"""

from __future__ import annotations

from ..facts import EncounterFacts
from ..terminology import Terminology
from ..terminology.releases import fiscal_year_of, fiscal_year_start
from ._findings import Finding

RULE_ID = "codeset-outdated"
HOOKS = ("order-sign", "encounter-discharge")
# Public sources (valuesets/sources.json) this rule rests on
SOURCES = ("cms-icd10-code-sets", "cdc-icd10cm-fy2026-april", "cdc-icd10cm-fy2027")
# The knowledge files (valuesets/*.json, by name) this rule reads, served at /valuesets/{id}
VALUESETS = ("Icd10cmBillablePeriods",)


def evaluate(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    icd = terminology.icd
    dates, unchecked = set(), []
    for diagnosis in facts.diagnoses:
        day = diagnosis.date_of_service
        if not icd.outdated(day):
            continue
        # the codes on the record, or the candidates a suggestion would add: both judged
        codes = diagnosis.coded or diagnosis.candidates
        if not codes:
            continue
        dates.add(day)
        unchecked += [c for c in codes if icd.undecided(c, day) and c not in unchecked]
    if not dates:
        return []
    latest = max(dates)
    judged_by = icd.release_on(latest)
    fiscal_years = sorted({fiscal_year_of(day) for day in dates})
    return [Finding(RULE_ID, params={
        "release": judged_by.label,
        "judged_until": judged_by.until.isoformat(),
        "dates": [day.isoformat() for day in sorted(dates)],
        "applies": [f"CDC ICD-10-CM FY{year}" for year in fiscal_years],
        "applies_from": fiscal_year_start(fiscal_years[0]).isoformat(),
        "fiscal_year": fiscal_years[-1],
        "unchecked": [(code, icd.description(code, latest) or "") for code in unchecked],
    })]

"""The prefetch keys this service publishes: their FHIR query templates, the resource type each
must hold, and how the narrow keys make up the keys the facts read.

Spec: https://cds-hooks.hl7.org/2.0/#prefetch-template
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..terminology import codeset, shipped_valuesets

# What discovery asks for: what the rules read, not the patient's whole record. Each search
# asks for large pages (_count) so that a server answers it in one page where it can. Search
# parameters are those of FHIR R4 (Condition: patient, encounter, category, clinical-status,
# code; Procedure: patient, encounter, code; Coverage: patient, status). The typed reference form
# (patient=Patient/id) is valid FHIR search syntax and is the form every server we test against
# matches, unlike a bare id on some in-memory repositories.
_PATIENT = "patient=Patient/{{context.patientId}}"
_ENCOUNTER = "encounter=Encounter/{{context.encounterId}}"
RECORD_TEMPLATES = {
    "patient": "Patient/{{context.patientId}}",
    "encounter": "Encounter/{{context.encounterId}}",
    # this encounter's diagnoses
    "encounterConditions": f"Condition?{_PATIENT}&{_ENCOUNTER}&_count=100",
    # the active problem list (the diagnoses when none is linked to the encounter): the
    # clinical statuses that are not inactive, resolved or remission
    "activeConditions": f"Condition?{_PATIENT}&category=problem-list-item"
                        "&clinical-status=active,recurrence,relapse&_count=100",
    # an earlier lower-back strain or sprain (specificity-injury: later care, 7th character D)
    "priorInjuries": "Condition?{patient}&code={LowerBackStrain,LumbarSprain}&_count=50",
    # this encounter's procedures
    "encounterProcedures": f"Procedure?{_PATIENT}&{_ENCOUNTER}&_count=100",
    # a prior lumbar spine operation (aftercare-code)
    "priorSpineSurgery": "Procedure?{patient}&code={LumbarSpineSurgeryProcedures}&_count=50",
    "coverage": f"Coverage?{_PATIENT}&status=active&_count=20",
}
# the keys discovery publishes: at most this many queries per hook call
PREFETCH_KEYS = tuple(RECORD_TEMPLATES)
_VALUESET_TOKEN = re.compile(r"\{([A-Za-z,]+)\}")

# The keys the facts read (cds_service/facts/build.py), each filled from the client's own key of
# that name when it sends one (the broad searches discovery asked for before), else merged from
# the narrow keys above. "coverage" is both: the same key, now asking for active Coverage only.
FACTS_KEYS = {
    "conditions": ("encounterConditions", "activeConditions", "priorInjuries"),
    "procedures": ("encounterProcedures", "priorSpineSurgery"),
}
# The narrow keys a required facts key cannot do without (when the context lets them be asked
# for: no encounterConditions on an order-sign without an encounter); the history slices are
# optional: without them the rules that read them are skipped.
REQUIRED_PARTS = {"conditions": ("encounterConditions", "activeConditions")}
# The broad keys older clients send (the templates discovery used to publish); still accepted.
LEGACY_PREFETCH = {
    "conditions": f"Condition?{_PATIENT}",
    "procedures": f"Procedure?{_PATIENT}",
}

# The resource type each prefetch key must hold; search keys hold a Bundle of that type.
PREFETCH_RESOURCE_TYPES = {
    "patient": "Patient",
    "encounter": "Encounter",
    "conditions": "Condition",
    "procedures": "Procedure",
    "coverage": "Coverage",
    "encounterConditions": "Condition",
    "activeConditions": "Condition",
    "priorInjuries": "Condition",
    "encounterProcedures": "Procedure",
    "priorSpineSurgery": "Procedure",
}
SEARCH_KEYS = frozenset(k for k in PREFETCH_RESOURCE_TYPES if k not in ("patient", "encounter"))


@lru_cache(maxsize=4)  # the code lists are data: each hook's templates are expanded once
def expand_templates(templates: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The templates as discovery publishes them, with each {ValueSet,...} token expanded to the
    comma-separated codes of those ValueSets in valuesets/ (FHIR token search: any of the
    codes). ``templates``: (key, template) pairs, in the order discovery lists them."""
    store = shipped_valuesets()

    def expand(match: re.Match) -> str:
        codes: list[str] = []
        for name in match.group(1).split(","):
            codes.extend(c for c in _expand(store.valueset(name)) if c not in codes)
        return ",".join(codes)

    return {key: _VALUESET_TOKEN.sub(expand, template.replace("{patient}", _PATIENT))
            for key, template in templates}


def _expand(index) -> list[str]:
    """Every code of a ValueSet (enumerated codes, ICD-10-CM is-a filters expanded through the
    code set's hierarchy, nested ValueSets). A regex filter cannot be listed in a query."""
    if any(index.patterns.values()):
        raise ValueError(f"ValueSet {index.name} has a regex filter; its codes cannot be listed")
    codes = sorted(c for system_codes in index.codes.values() for c in system_codes)
    for prefix in sorted(p for prefixes in index.prefixes.values() for p in prefixes):
        stack = [prefix]
        while stack:
            code = stack.pop(0)
            if code not in codes:
                codes.append(code)
            stack.extend(codeset.get_children(code) if codeset.is_valid_item(code) else ())
    for nested in index.included_sets:
        codes.extend(c for c in _expand(nested) if c not in codes)
    return codes

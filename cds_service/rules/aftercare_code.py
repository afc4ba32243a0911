"""[aftercare-code] Care after lumbar spine surgery: a spinal fusion or laminectomy Procedure
before the encounter (CPT 22612, 22630, 63030, 63047), Z98.1 Arthrodesis status on the
encounter, or the surgery documented in the note (not negated), on a visit about the spine.
Suggests Z47.89 Encounter for other orthopedic aftercare with the status code (Z98.1 after a
fusion, Z98.890 otherwise), and flags Z48.812 used for spine aftercare.

Sources (ids in valuesets/sources.json): the CDC ICD-10-CM tabular, FY2026 (April 2026): Z48.812
is aftercare following surgery on the *circulatory* system, and Z48.81- carries an Excludes2 for
orthopedic aftercare (Z47.-), so spine aftercare is Z47.89, with Z98.1 Arthrodesis status after a
fusion or Z98.890 Other specified postprocedural states, and the condition still present coded
too; ICD-10-CM Official Guidelines I.C.21.c.7 (aftercare codes are for encounters whose purpose
is aftercare). Whether a payer prefers Z47.89 or Z48.89 after spine surgery is its own policy:
check your payer's. Z48.812 is never suggested: no finding in ConceptMap
LbpDocumentedFindingToIcd10cm maps to it.
"""

from __future__ import annotations

from ..facts import Diagnosis, EncounterFacts
from ..facts.evidence import Evidence, diagnosis_codes, procedure_codes, text_evidence, unique
from ..facts.picture import EVIDENCE_LIMIT, sources_of
from ..terminology import CPT_SYSTEM, ICD10CM_SYSTEM, Terminology
from ..text import STATUS_ORDER
from ._codes import finding_code
from ._fhir import new_condition, with_icd_code, without_codes
from ._findings import Action, Finding, Suggestion

RULE_ID = "aftercare-code"
HOOKS = ("order-sign", "encounter-discharge")
# Public sources (valuesets/sources.json) this rule rests on
SOURCES = (
    "cdc-icd10cm-fy2026-april",
    "icd10cm-guidelines-i-c-21-c-7",
)
# The knowledge files (valuesets/*.json, by name) this rule reads, served at /valuesets/{id}
VALUESETS = (
    "LumbarSpineSurgeryProcedures",
    "SpinalFusionProcedures",
    "SpinalDecompressionProcedures",
    "ArthrodesisStatus",
    "AftercareNotForSpine",
    "SpineRelatedDiagnoses",
    "LbpDocumentedFindingToIcd10cm",
)

SPINE_SURGERY = "LumbarSpineSurgeryProcedures"
FUSION = "SpinalFusionProcedures"
ARTHRODESIS = "ArthrodesisStatus"
NOT_FOR_SPINE = "AftercareNotForSpine"
SPINE_RELATED = "SpineRelatedDiagnoses"


def evaluate(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    icd = terminology.icd
    day = facts.date_of_service
    surgeries = [p for p in facts.prior_procedures
                 if any(terminology.in_valueset(SPINE_SURGERY, CPT_SYSTEM, c)
                        for c in p.billing_codes)]
    fused_by_procedure = any(terminology.in_valueset(FUSION, CPT_SYSTEM, c)
                             for p in surgeries for c in p.billing_codes)
    arthrodesis = [d for d in facts.diagnoses if _coded_in(terminology, ARTHRODESIS, d)]
    readings = [d.reading for d in facts.diagnoses if d.reading] or [terminology.text.read(
        *facts.encounter_reason_texts, *facts.encounter_type_texts)]
    evidence = _evidence(facts, surgeries, arthrodesis)
    said_fusion = _said(readings, "spinal_fusion")
    said_surgery = said_fusion or _said(readings, "spine_surgery")
    fusion = fused_by_procedure or bool(arthrodesis) or said_fusion
    on_encounter = facts.coded_on_encounter
    aftercare = finding_code(terminology, "orthopedic-aftercare", day)
    status = finding_code(
        terminology, "status-arthrodesis" if fusion else "status-other-spine-surgery", day)
    if not aftercare:
        return []
    params = {
        "date": day.isoformat(),
        "aftercare": aftercare,
        "aftercare_display": icd.description(aftercare, day) or aftercare,
        "status": status or "",
        "status_display": (icd.description(status, day) or status) if status else "",
        "fusion": fusion,
        "surgeries": [(", ".join(p.billing_codes), p.performed_on.isoformat())
                      for p in surgeries if p.performed_on],
        "status_coded": bool(status and status in on_encounter),
    }

    def status_action() -> list[Action]:
        if not status or status in on_encounter:
            return []
        return [Action("create", "add_status",
                       resource=new_condition(facts, status, terminology))]

    findings = []
    spine_context = bool(surgeries or arthrodesis or said_surgery)
    wrong = [(d, c) for d in facts.diagnoses for c in d.icd10cm
             if terminology.in_valueset(NOT_FOR_SPINE, ICD10CM_SYSTEM, c)]
    for diagnosis, code in wrong if spine_context else []:
        suggestion_params = {**params, "wrong": code,
                             "wrong_display": icd.description(code, day) or code}
        actions: list[Action] = []
        if aftercare in on_encounter:
            # Z47.89 is already coded: only take the wrong code away
            resource = without_codes(diagnosis, [code])
            if resource:
                actions.append(Action("update", "remove_wrong", resource=resource))
            elif diagnosis.reference:
                actions.append(Action("delete", "delete_wrong", resource_id=diagnosis.reference))
        else:
            actions = [Action("update", "replace_wrong",
                              resource=with_icd_code(diagnosis, [code], aftercare, terminology))]
        actions += status_action()
        suggestions = [Suggestion("fix_wrong", actions, params=suggestion_params)] if (
            actions) else []
        findings.append(Finding(RULE_ID, params={**params, "case": "wrong_code", "wrong": code,
                                                 "wrong_display": suggestion_params[
                                                     "wrong_display"]},
                                suggestions=suggestions, indicator="warning",
                                evidence=diagnosis_codes(diagnosis, [code]) + evidence))
    if findings:
        return findings

    spine_visit = any(_coded_in(terminology, SPINE_RELATED, d) for d in facts.diagnoses)
    # a surgery documented in the note counts as much as a Procedure resource: EHRs often keep
    # an outside hospital's fusion only in the history text
    if not spine_context or not spine_visit:
        return []
    # aftercare codes are for encounters whose purpose is aftercare (Official Guidelines
    # I.C.21.c.7): a fusion two years ago alone is a status, not an aftercare visit
    aftercare_visit = any(r.present("aftercare_visit") for r in readings)
    if aftercare not in on_encounter and not aftercare_visit:
        if status and status not in on_encounter:
            return [Finding(RULE_ID, params={**params, "case": "status_only"},
                            suggestions=[Suggestion("add_status", status_action(),
                                                    params=params)],
                            evidence=evidence)]
        return []
    if aftercare not in on_encounter:
        actions = [Action("create", "add_aftercare",
                          resource=new_condition(facts, aftercare, terminology)),
                   *status_action()]
        return [Finding(RULE_ID, params={**params, "case": "missing_aftercare"},
                        suggestions=[Suggestion("add_aftercare", actions, params=params)],
                        evidence=evidence)]
    if status and status not in on_encounter:
        return [Finding(RULE_ID, params={**params, "case": "missing_status"},
                        suggestions=[Suggestion("add_status", status_action(), params=params)],
                        evidence=evidence)]
    return []


def _said(readings: list, concept: str) -> bool:
    """Documented in one of the texts, and not denied where it is documented (the readings of
    every diagnosis taken together, in one pass)."""
    statuses = {m.status for r in readings for m in r.of(concept)}
    if not statuses or statuses == {"family"}:
        return False
    return "present" in statuses or next(
        (s for s in STATUS_ORDER if s in statuses), None) != "absent"


def _coded_in(terminology: Terminology, valueset: str, diagnosis: Diagnosis) -> bool:
    contains = terminology.store.valueset(valueset).contains
    return any(contains(ICD10CM_SYSTEM, code) for code in diagnosis.coded)


_SURGERY_TEXT = ("spinal_fusion", "spine_surgery", "aftercare_visit")
# the diagnoses whose texts are quoted: the surgery is usually in the first note that says it
_TEXTS_SHOWN = 3


def _evidence(facts: EncounterFacts, surgeries: list, arthrodesis: list[Diagnosis]
              ) -> list[Evidence]:
    """The surgeries on the record, the arthrodesis status coded, and what the notes say of the
    surgery and of the visit's purpose."""
    found = [e for p in surgeries for e in procedure_codes(p)]
    found += [e for d in arthrodesis for e in diagnosis_codes(d)]
    read = [d for d in facts.diagnoses if d.reading and d.reading.of(*_SURGERY_TEXT)]
    for diagnosis in read[:_TEXTS_SHOWN]:
        found += text_evidence(diagnosis.reading, sources_of(diagnosis, facts.encounter),
                               _SURGERY_TEXT, EVIDENCE_LIMIT)
    return unique(found)

"""[aftercare-code] Care after lumbar spine surgery: a spinal fusion or laminectomy Procedure
before the encounter (CPT 22612, 22630, 63030, 63047), Z98.1 Arthrodesis status on the
encounter, or the surgery documented in the note (not negated), on a visit about the spine.
Suggests Z47.89 Encounter for other orthopedic aftercare with the status code (Z98.1 after a
fusion, Z98.890 otherwise), and flags Z48.812 used for spine aftercare.

Source: ../shared/domain/coding-facts.md §0 row 1 (the source article is wrong: Z48.812 is
aftercare following surgery on the *circulatory* system, and Z48.81- has an Excludes2 for
orthopedic aftercare Z47.-; spine aftercare is Z47.89, with Z98.1 after a fusion or Z98.890,
and the condition still present coded too), §1d, §6a rule 6 ("never Z48.812"). Whether Coding
Clinic prefers Z47.89 for spine surgery specifically is [U] there (§8 item 6). Z48.812 is never
suggested: no finding in ConceptMap LbpDocumentedFindingToIcd10cm maps to it.
"""

from __future__ import annotations

from ..facts import EncounterFacts
from ..terminology import CPT_SYSTEM, ICD10CM_SYSTEM, Terminology
from ..terminology.text import EMPTY_READING
from . import Action, Finding, Suggestion
from ._fhir import new_condition
from ._lbp import encounter_icd, finding_code, in_set, reading_of, replace_icd, without_icd

RULE_ID = "aftercare-code"
HOOKS = ("order-sign", "encounter-discharge")

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
    arthrodesis = [d for d in facts.diagnoses if in_set(terminology, ARTHRODESIS, d)]
    reading = sum((reading_of(d, facts, terminology) for d in facts.diagnoses), EMPTY_READING)
    said_fusion = reading.documented("spinal_fusion") and not reading.absent("spinal_fusion")
    said_surgery = said_fusion or (reading.documented("spine_surgery")
                                   and not reading.absent("spine_surgery"))
    fusion = fused_by_procedure or bool(arthrodesis) or said_fusion
    on_encounter = encounter_icd(facts, terminology)
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
            resource = without_icd(diagnosis, code)
            if resource:
                actions.append(Action("update", "remove_wrong", resource=resource))
            elif diagnosis.reference:
                actions.append(Action("delete", "delete_wrong", resource_id=diagnosis.reference))
        else:
            actions = [Action("update", "replace_wrong",
                              resource=replace_icd(diagnosis, [code], aftercare, terminology))]
        actions += status_action()
        suggestions = [Suggestion("fix_wrong", actions, params=suggestion_params)] if (
            actions) else []
        findings.append(Finding(RULE_ID, params={**params, "case": "wrong_code", "wrong": code,
                                                 "wrong_display": suggestion_params[
                                                     "wrong_display"]},
                                suggestions=suggestions, indicator="warning"))
    if findings:
        return findings

    spine_visit = any(in_set(terminology, SPINE_RELATED, d) for d in facts.diagnoses)
    # a surgery documented in the note counts as much as a Procedure resource: EHRs often keep
    # an outside hospital's fusion only in the history text
    if not spine_context or not spine_visit:
        return []
    if aftercare not in on_encounter:
        actions = [Action("create", "add_aftercare",
                          resource=new_condition(facts, aftercare, terminology)),
                   *status_action()]
        return [Finding(RULE_ID, params={**params, "case": "missing_aftercare"},
                        suggestions=[Suggestion("add_aftercare", actions, params=params)])]
    if status and status not in on_encounter:
        return [Finding(RULE_ID, params={**params, "case": "missing_status"},
                        suggestions=[Suggestion("add_status", status_action(), params=params)])]
    return []

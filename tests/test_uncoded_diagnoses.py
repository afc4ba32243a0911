"""Diagnoses coded only in SNOMED CT (or WHO ICD-10): candidates, not codes.

One test per case observed with ordinary records, each named for the guideline it follows:
the candidate a ConceptMap gives is never judged as if it were on the claim; the uncoded
Condition gets the ICD-10-CM code its documentation supports (the suggestion updates *that*
Condition and keeps its SNOMED CT coding); a coded nonspecific diagnosis it leads, or a code it
excludes, is removed so that the claim keeps one code per condition.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from cds_service.terminology import ICD10_WHO_SYSTEM, ICD10CM_SYSTEM, SNOMED_SYSTEM
from tests.builders import (
    DISCHARGE,
    ORDER_SIGN,
    cards,
    condition,
    encounter,
    pipeline,
    procedure,
    request,
    topic,
)
from tests.contract import check_response

VISIT = encounter(start="2026-03-02T09:00:00-05:00")  # inside the bundled FY2026 release


def found(body: dict) -> list[dict]:
    result = cards(body)
    problems = check_response({"cards": result}, body, {})
    assert not problems, problems
    return [c for c in result if topic(c) != "documentation-missing"]


def plan(card: dict) -> list[tuple]:
    """The first suggestion's actions: (type, resource id or reference, ICD-10-CM codes)."""
    steps = []
    for action in card["suggestions"][0]["actions"]:
        resource = action.get("resource") or {}
        codes = [c["code"] for c in resource.get("code", {}).get("coding", [])
                 if c.get("system") == ICD10CM_SYSTEM]
        target = action.get("resourceId")
        if isinstance(target, list):  # a client reading CDS Hooks 2.0 expects one string
            target = target[0]
        steps.append((action["type"], resource.get("id") or target, codes))
    return steps


def kept_codings(card: dict, system: str) -> list[str]:
    resource = card["suggestions"][0]["actions"][0]["resource"]
    return [c["code"] for c in resource["code"]["coding"] if c.get("system") == system]


SNOMED_DISC = condition("c2", None, snomed="20021007")


@pytest.mark.parametrize("case, conditions, rule, expected", [
    # 1. M54.5 Excludes1 "lumbago due to intervertebral disc displacement (M51.2-)": the disc
    #    Condition gets M51.26 and M54.50 goes; never an Excludes1 card about an uncoded M51.26
    ("disc displacement coded only in SNOMED CT beside M54.50",
     [condition("c1", "M54.50"), SNOMED_DISC], "excludes1-conflict",
     [("update", "c2", ["M51.26"]), ("delete", "Condition/c1", [])]),
    # 2. a disc disorder with radiculopathy is M51.1- (M54.3 / M54.4 Excludes1 M51.1-)
    ("the same record with radiculopathy documented",
     [condition("c1", "M54.50", note="Pain radiates below the knee; L5 root contacted by the "
                                    "herniation."), SNOMED_DISC], "specificity-disc",
     [("update", "c2", ["M51.16"]), ("delete", "Condition/c1", [])]),
    # 3. a lumbar radiculopathy coded only in SNOMED CT gets its code
    ("M54.50 with a lumbar radiculopathy coded only in SNOMED CT",
     [condition("c1", "M54.50"), condition("c2", None, snomed="128196005")],
     "specificity-radicular", [("update", "c2", ["M54.16"]), ("delete", "Condition/c1", [])]),
    # 4. M51.26 is a displacement without radiculopathy: with it documented, M51.16
    ("M51.26 coded while radiculopathy is documented",
     [condition("c1", "M51.26", note="Lumbar radiculopathy on the left.")], "specificity-disc",
     [("update", "c1", ["M51.16"])]),
    # 6. Synthea's chronic low back pain: M54.50 (ICD-10-CM index: Pain, back, low); G89.29
    #    only where chronic pain is the focus (Official Guidelines I.C.6.b.1): not suggested
    ("chronic low back pain as Synthea records it",
     [condition("c1", None, snomed="278860009", documented=False)], "icd10cm-missing",
     [("update", "c1", ["M54.50"])]),
    # the same specificity logic as a coded diagnosis: low back pain with left sciatica
    ("SNOMED CT low back pain with documented left sciatica",
     [condition("c1", None, snomed="279039007", note="Sciatica down the left leg.")],
     "specificity-radicular", [("update", "c1", ["M54.42"])]),
    # sciatica without low back pain documented is M54.3- by side, not M54.4-
    ("SNOMED CT sciatica alone, right side",
     [condition("c1", None, snomed="23056005", note="Sciatica down the right leg.",
                documented=False)], "specificity-radicular", [("update", "c1", ["M54.31"])]),
    # M54.5 Excludes1 M54.4-: the sciatica Condition becomes lumbago with sciatica
    ("SNOMED CT sciatica beside M54.50",
     [condition("c1", "M54.50"), condition("c2", None, snomed="23056005")],
     "excludes1-conflict", [("update", "c2", ["M54.40"]), ("delete", "Condition/c1", [])]),
])
def test_an_uncoded_diagnosis_gets_the_code_its_documentation_supports(
        case, conditions, rule, expected):
    result = found(request(*conditions, enc=VISIT))
    assert [topic(c) for c in result] == [rule], case
    assert plan(result[0]) == expected, case
    update = next(a for a in result[0]["suggestions"][0]["actions"] if a["type"] == "update")
    # the updated Condition keeps its SNOMED CT coding beside the new ICD-10-CM one
    original = next(c for c in conditions if c["id"] == update["resource"]["id"])
    snomed = [c["code"] for c in original["code"]["coding"] if c["system"] == SNOMED_SYSTEM]
    assert kept_codings(result[0], SNOMED_SYSTEM) == snomed


def test_a_card_names_an_uncoded_diagnosis_by_its_words_not_its_number():
    """Case 5: "SNOMED CT 279039007 lacks support" told the reader nothing."""
    body = request(condition("c1", None, snomed="279039007", documented=False), enc=VISIT)
    for card in cards(body):
        assert "279039007" not in card["summary"]
        assert "Low back pain" in card["summary"]


def test_a_who_icd10_diagnosis_gets_its_icd10cm_code():
    """Case 7: WHO ICD-10 M54.5 is not the code set of a US claim."""
    who = condition("c1", None)
    who["code"]["coding"] = [{"system": ICD10_WHO_SYSTEM, "code": "M54.5"}]
    result = found(request(who, enc=VISIT))
    assert [topic(c) for c in result] == ["icd10cm-missing"]
    assert plan(result[0]) == [("update", "c1", ["M54.50"])]
    assert kept_codings(result[0], ICD10_WHO_SYSTEM) == ["M54.5"]


def test_an_old_fusion_alone_is_a_status_not_an_aftercare_visit():
    """Case 8: Z47.89 is for encounters for aftercare (Official Guidelines I.C.21.c.7)."""
    body = request(condition("c1", "M54.50"), procedures=[procedure("p1", "22612", "2024-08-01")],
                   enc=VISIT)
    aftercare = [c for c in found(body) if topic(c) == "aftercare-code"]
    assert len(aftercare) == 1
    assert plan(aftercare[0]) == [("create", None, ["Z98.1"])]


@pytest.mark.parametrize("note, expected", [
    ("Follow-up visit. Treatment finished; routine care in the healing phase.", "S39.012D"),
    ("Receiving active treatment: PT and medication started last week.", None),
    ("Follow-up visit; still receiving active treatment.", None),
])
def test_the_7th_character_follows_the_phase_of_care(note, expected):
    """Case 9: Official Guidelines I.C.19.a: A while the patient receives active treatment, D
    for encounters after it, in the healing or recovery phase."""
    earlier = condition("c0", "S39.012A", encounter="e0", recorded="2026-02-01")
    body = request(condition("c1", "S39.012A", note=note), earlier, enc=VISIT)
    injury = [c for c in found(body) if topic(c) == "specificity-injury"]
    if expected is None:
        assert injury == []
    else:
        assert [plan(c) for c in injury] == [[("update", "c1", [expected])]]


@pytest.mark.parametrize("conditions", [
    # the encounter already codes it
    [condition("c1", "M51.26"), condition("c2", None, snomed="20021007")],
    # M51.26 is where low back pain from the displaced disc is coded (M54.5 Excludes1 M51.2-)
    [condition("c1", "M51.26"), condition("c2", None, snomed="279039007")],
    # the uncoded diagnosis is outside the low back families
    [condition("c1", "M54.50"), condition("c2", None, snomed="38341003")],
])
def test_quiet_when_the_encounter_already_codes_the_uncoded_condition(conditions):
    result = found(request(*conditions, enc=VISIT))
    assert not [c for c in result if topic(c) in (
        "icd10cm-missing", "excludes1-conflict", "specificity-disc", "specificity-radicular")]


def test_no_rule_judges_a_candidate_as_coded():
    """Excludes1 between a coded code and a mere candidate names only codes on the record:
    no card says "keep M51.26" while M51.26 is on no Condition, and accepting the card never
    leaves the encounter without an ICD-10-CM code."""
    body = request(condition("c1", "M54.50"), SNOMED_DISC, enc=VISIT)
    for card in found(body):
        for suggestion in card["suggestions"]:
            deleted = {a["resourceId"] if isinstance(a["resourceId"], str) else a["resourceId"][0]
                       for a in suggestion["actions"] if a["type"] == "delete"}
            updated = [a["resource"] for a in suggestion["actions"] if a["type"] == "update"]
            if "Condition/c1" in deleted:
                assert any(c["system"] == ICD10CM_SYSTEM for r in updated
                           for c in r["code"]["coding"])


# -- Synthea records (tests/fixtures/synthea: generated at a fixed seed, see its README) -------
SYNTHEA = sorted((Path(__file__).parent / "fixtures" / "synthea").glob("*.json"))


@pytest.mark.parametrize("path", SYNTHEA, ids=[p.stem for p in SYNTHEA])
def test_synthea_chronic_low_back_pain_gets_its_icd10cm_code(path):
    """Case 6: Synthea records chronic low back pain as SNOMED CT 278860009 only; every visit
    carrying it gets a card adding M54.50 to that Condition, on both hooks; the visits without
    it get none."""
    body = json.loads(path.read_text())
    service = ORDER_SIGN if body["hook"] == "order-sign" else DISCHARGE
    result = cards(body, service)
    problems = check_response({"cards": result}, body, {})
    assert not problems, problems
    chronic = {e["resource"]["id"] for e in body["prefetch"]["conditions"].get("entry", [])
               if any(c.get("code") == "278860009"
                      for c in e["resource"]["code"].get("coding", []))}
    missing = [c for c in result if topic(c) == "icd10cm-missing"]
    if "control" in path.stem:
        assert missing == [], [topic(c) for c in result]
        return
    assert len(missing) == 1, [topic(c) for c in result]
    ((kind, target, codes),) = plan(missing[0])
    assert kind == "update" and target in chronic and codes == ["M54.50"]
    assert kept_codings(missing[0], SNOMED_SYSTEM) == ["278860009"]


# -- the date of service of an order --------------------------------------------------------
def _order_sign(authored: str | None) -> dict:
    problem = condition("c1", "M54.5", encounter=None, recorded="2021-03-01")
    problem["category"][0]["coding"][0]["code"] = "problem-list-item"
    order = {"resourceType": "ServiceRequest", "id": "o1", "status": "draft",
             "intent": "order", "subject": {"reference": "Patient/p1"},
             "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "97110"}]}}
    if authored:
        order["authoredOn"] = authored
    return {
        "hook": "order-sign", "hookInstance": "0b7e5c1e-8d3f-4f7a-9a77-2c1c8d2b3a10",
        "context": {"userId": "Practitioner/pr1", "patientId": "p1",
                    "draftOrders": {"resourceType": "Bundle", "type": "collection",
                                    "entry": [{"resource": order}]}},
        "prefetch": {"patient": {"resourceType": "Patient", "id": "p1"},
                     "conditions": {"resourceType": "Bundle", "type": "searchset",
                                    "entry": [{"resource": problem}]},
                     "procedures": None, "coverage": None},
    }


@pytest.mark.parametrize("authored, today, day", [
    ("2026-03-15T10:00:00-05:00", None, "2026-03-15"),  # the order's own date
    (None, "2026-04-02", "2026-04-02"),  # else the day it is signed
])
def test_an_order_is_dated_by_its_own_date_not_by_when_a_problem_was_recorded(
        authored, today, day):
    """On order-sign without an encounter, the date of service is the order's (authoredOn, else
    today), never a problem-list Condition's recordedDate (2021-03-01 here, when M54.5 was
    still billable: dated by it, the retired code would pass unnoticed)."""
    result = pipeline().evaluate(ORDER_SIGN, _order_sign(authored),
                                 today=date.fromisoformat(today) if today else None)
    invalid = [c for c in result.response["cards"] if topic(c) == "invalid-code"]
    assert len(invalid) == 1
    assert f"this {day} visit" in invalid[0]["summary"]

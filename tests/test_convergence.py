"""Accepting a card leaves the record better, as a property.

For every fixture request and for generated records (Hypothesis, fixed seed, bounded), each
suggestion's actions are applied to the request as an EHR would (update replaces the resource,
create adds it, delete removes it), the request is evaluated again, and:

1. the same finding (rule and target resource) does not come back;
2. if the encounter had a billable ICD-10-CM diagnosis valid on the date of service, it still
   has one;
3. no introduced code is invalid on that date, or in an Excludes1 relation with another code
   left on the encounter;
4. in one response, no two cards suggest different codes for the same Condition.
"""

from __future__ import annotations

import copy
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.terminology import ICD10_WHO_SYSTEM, ICD10CM_SYSTEM
from tests.builders import DISCHARGE, ORDER_SIGN, bundle, condition, encounter, pipeline, procedure
from tests.support.examples import fixture_requests

SERVICE_OF_HOOK = {"encounter-discharge": DISCHARGE, "order-sign": ORDER_SIGN}


# -- applying a suggestion as an EHR would ------------------------------------------------------
def _containers(body: dict):
    """Every list of resources in the request: each search Bundle's entries, the draft orders."""
    for value in (body.get("prefetch") or {}).values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            yield value.setdefault("entry", [])
    orders = (body.get("context") or {}).get("draftOrders")
    if isinstance(orders, dict):
        yield orders.setdefault("entry", [])


def _reference(resource: dict) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def apply(body: dict, actions: list[dict]) -> dict:
    body = copy.deepcopy(body)
    created = itertools.count(1)
    for action in actions:
        kind = action["type"]
        if kind == "delete":
            ids = action["resourceId"]
            for target in [ids] if isinstance(ids, str) else ids:
                for entries in _containers(body):
                    entries[:] = [e for e in entries if _reference(e["resource"]) != target]
            continue
        resource = copy.deepcopy(action["resource"])
        if kind == "create":
            resource.setdefault("id", f"accepted-{next(created)}")
            prefetch_key = "conditions" if resource["resourceType"] == "Condition" else None
            if prefetch_key:
                target = body["prefetch"].setdefault(prefetch_key, bundle([]))
                target.setdefault("entry", []).append({"resource": resource})
            else:
                body["context"]["draftOrders"].setdefault("entry", []).append(
                    {"resource": resource})
            continue
        assert kind == "update", action
        replaced = False
        for entries in _containers(body):
            for entry in entries:
                if _reference(entry["resource"]) == _reference(resource):
                    entry["resource"] = resource
                    replaced = True
        assert replaced, f"update of a resource not in the request: {_reference(resource)}"
    return body


# -- the properties ------------------------------------------------------------------------------
def evaluate(body: dict):
    return pipeline().evaluate(SERVICE_OF_HOOK[body["hook"]], body)


def _billable_diagnosis(result) -> bool:
    icd = pipeline().terminology.icd
    return any(icd.is_billable(code, d.date_of_service)
               for d in result.facts.diagnoses for code in d.coded)


def _coded(result) -> dict[str, set[str]]:
    return {d.reference or str(i): set(d.coded) for i, d in enumerate(result.facts.diagnoses)}


def _added_codes(card: dict, originals: dict[str, dict]) -> dict[str, set[str]]:
    """Per Condition this card updates, the ICD-10-CM codes its suggestions add."""
    added: dict[str, set[str]] = {}
    for suggestion in card.get("suggestions", []):
        for action in suggestion["actions"]:
            resource = action.get("resource") or {}
            if action["type"] != "update" or resource.get("resourceType") != "Condition":
                continue
            reference = _reference(resource)
            before = {c.get("code") for c in (originals.get(reference) or {}).get(
                "code", {}).get("coding", []) if c.get("system") == ICD10CM_SYSTEM}
            after = {c["code"] for c in resource.get("code", {}).get("coding", [])
                     if c.get("system") == ICD10CM_SYSTEM}
            if after - before:
                added.setdefault(reference, set()).update(after - before)
    return added


def identity(finding) -> tuple:
    """A finding: its rule and target resource; for an Excludes1 conflict also the code pair
    (two different pairs on one Condition are two findings)."""
    pair = None
    if finding.rule_id == "excludes1-conflict":
        pair = tuple(sorted((finding.params["first"], finding.params["second"])))
    return finding.rule_id, finding.target, pair


def check_convergence(body: dict) -> int:
    """Check the four properties on ``body``; return how many suggestions were applied."""
    terminology = pipeline().terminology
    icd = terminology.icd
    first = evaluate(body)
    originals = {_reference(d.resource): d.resource for d in first.facts.diagnoses}
    cards = first.response["cards"]

    # 4. no two cards suggest different codes for the same Condition
    offered = [_added_codes(card, originals) for card in cards]
    for (i, a), (j, b) in itertools.combinations(enumerate(offered), 2):
        for reference in a.keys() & b.keys():
            assert a[reference] & b[reference], (
                f"{cards[i]['source']['topic']['code']} and {cards[j]['source']['topic']['code']}"
                f" suggest different codes for {reference}: {a[reference]} / {b[reference]}")

    applied = 0
    had_billable = _billable_diagnosis(first)
    for finding, card in zip(first.findings, cards, strict=True):
        for suggestion in card.get("suggestions", []):
            after_body = apply(body, suggestion["actions"])
            after = evaluate(after_body)
            applied += 1
            what = f"{finding.rule_id} / {suggestion['label']}"
            # 1. the same finding does not come back
            if finding.target:
                again = [identity(f) for f in after.findings]
                assert identity(finding) not in again, f"{what}: came back"
            # 2. a billable diagnosis stays
            if had_billable:
                assert _billable_diagnosis(after), f"{what}: no billable diagnosis left"
            # 3. introduced codes are valid and conflict with nothing left
            before_codes = set().union(*_coded(first).values()) if first.facts.diagnoses else set()
            after_codes = _coded(after)
            remaining = set().union(*after_codes.values()) if after_codes else set()
            for diagnosis in after.facts.diagnoses:
                for code in set(diagnosis.coded) - before_codes:
                    assert icd.is_billable(code, diagnosis.date_of_service), (
                        f"{what}: introduced {code}, not billable on "
                        f"{diagnosis.date_of_service}")
                    for other in remaining - {code}:
                        assert icd.excludes1_conflict(code, other) is None, (
                            f"{what}: introduced {code}, Excludes1 with {other} left")
    return applied


# -- every fixture request -----------------------------------------------------------------------
FIXTURE_REQUESTS = fixture_requests(SERVICE_OF_HOOK)


@pytest.mark.parametrize("name, body", FIXTURE_REQUESTS, ids=[n for n, _ in FIXTURE_REQUESTS])
def test_accepting_any_suggestion_of_a_fixture_leaves_the_record_better(name, body):
    check_convergence(body)


# -- generated records ---------------------------------------------------------------------------
ICD_CODES = ["M54.5", "M54.50", "M54.59", "M54.9", "M54.30", "M54.31", "M54.40", "M54.41",
             "M54.42", "M54.16", "M54.17", "M51.16", "M51.26", "M51.27", "M51.36", "M51.360",
             "M51.362", "M51.369", "S39.012A", "S39.012", "S33.5XXA", "M99.03", "Z98.1",
             "Z47.89", "Z48.812", "M54.51", "M48.061"]
SNOMED_CODES = ["279039007", "278860009", "23056005", "128196005", "2415007", "20021007",
                "26538006", "311211000119105"]
WHO_CODES = ["M54.5", "M54.4"]
PHRASES = [
    "Left sciatica.", "Denies sciatica.", "Pain radiates down the right leg.", "No radiation.",
    "MRI shows L4-5 disc herniation.", "Lumbar radiculopathy.", "DDD at L5-S1.",
    "Strain after lifting a box.", "Follow-up visit, routine healing phase.",
    "Vertebrogenic low back pain.", "Status post L4-5 fusion.", "Post-op rehab visit.",
    "ROS: negative for fever, numbness, tingling or sciatica.", "Bilateral sciatica.",
    "Sprain of the lumbar ligaments after a fall.", "Receiving active treatment.",
    "Assessment: mechanical low back pain.", "Herniated disc at L5-S1 with left leg pain.",
]
DAYS = ["2021-06-01", "2021-10-01", "2023-05-02", "2024-09-30", "2024-10-01", "2026-03-02"]


@st.composite
def coded_condition(draw, index: int) -> dict:
    kind = draw(st.sampled_from(["icd", "icd", "snomed", "both", "who"]))
    icd = draw(st.sampled_from(ICD_CODES)) if kind in ("icd", "both") else None
    snomed = draw(st.sampled_from(SNOMED_CODES)) if kind in ("snomed", "both") else None
    note = " ".join(draw(st.lists(st.sampled_from(PHRASES), max_size=3)))
    resource = condition(f"c{index}", icd, snomed, note or None,
                         documented=draw(st.booleans()))
    if kind == "who":
        resource["code"]["coding"] = [{"system": ICD10_WHO_SYSTEM,
                                       "code": draw(st.sampled_from(WHO_CODES))}]
    return resource


@st.composite
def records(draw) -> dict:
    day = draw(st.sampled_from(DAYS))
    conditions = [draw(coded_condition(i)) for i in range(draw(st.integers(1, 3)))]
    procedures = []
    if draw(st.booleans()):
        procedures.append(procedure("p1", draw(st.sampled_from(["22612", "63047", "97110"])),
                                    "2020-05-01"))
    hook = draw(st.sampled_from(["encounter-discharge", "order-sign"]))
    enc = encounter(start=f"{day}T09:00:00-05:00")
    body = {
        "hook": hook, "hookInstance": "7f1d3c52-3b1a-4c0e-9a51-3c4a2b1d0e9f",
        "context": {"userId": "Practitioner/pr1", "patientId": "p1", "encounterId": "e1"},
        "prefetch": {"patient": {"resourceType": "Patient", "id": "p1"}, "encounter": enc,
                     "conditions": bundle(conditions), "procedures": bundle(procedures),
                     "coverage": None},
    }
    if hook == "order-sign":
        body["context"]["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                          "entry": []}
    return body


@settings(max_examples=200, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_accepting_any_suggestion_of_a_generated_record_leaves_it_better(body):
    check_convergence(body)


def test_the_property_check_applies_suggestions():
    """The check is not vacuous: on an ordinary record it applies suggestions and re-reads."""
    body = {
        "hook": "encounter-discharge", "hookInstance": "7f1d3c52-3b1a-4c0e-9a51-3c4a2b1d0e9f",
        "context": {"userId": "Practitioner/pr1", "patientId": "p1", "encounterId": "e1"},
        "prefetch": {"patient": {"resourceType": "Patient", "id": "p1"},
                     "encounter": encounter(start="2026-03-02T09:00:00-05:00"),
                     "conditions": bundle([condition("c1", "M54.50"),
                                           condition("c2", None, snomed="20021007",
                                                     note="Left sciatica.")]),
                     "procedures": bundle([]), "coverage": None},
    }
    assert check_convergence(body) >= 1


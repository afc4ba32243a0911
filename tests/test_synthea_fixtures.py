"""The Synthea-shaped requests of tests/fixtures/synthea (scripts/synthea_fixtures.py): each is
accepted by the service over real HTTP, and each is what its README says it is: SNOMED CT-only
records as Synthea wrote them, date-shifted into ICD-10-CM FY2026, with resolvable ids."""

from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
import requests

from cds_service.hooks import SERVICES
from tests.support.examples import SYNTHEA

HOOK_TO_SERVICE = {s.hook: s.id for s in SERVICES.values()}
SNOMED = "http://snomed.info/sct"
CHRONIC_LOW_BACK_PAIN = "278860009"
CPT = "http://www.ama-assn.org/go/cpt"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
# ICD-10-CM FY2026 runs 2025-10-01 to 2026-09-30; the fixtures sit in its second half.
WINDOW = (date(2026, 4, 1), date(2026, 9, 30))


def _load(path) -> dict:
    return json.loads(path.read_text("utf-8"))


def _walk(node, key=""):
    if isinstance(node, dict):
        for name, value in node.items():
            yield from _walk(value, name)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value, key)
    else:
        yield key, node


def _codings(node):
    if isinstance(node, dict):
        if "system" in node and "code" in node:
            yield node["system"], node["code"]
        for value in node.values():
            yield from _codings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _codings(value)


def _entries(bundle: dict) -> list[dict]:
    return [entry["resource"] for entry in bundle.get("entry", [])]


def _lbp_conditions(request: dict) -> list[dict]:
    return [c for c in _entries(request["prefetch"]["conditions"])
            if (SNOMED, CHRONIC_LOW_BACK_PAIN) in set(_codings(c.get("code")))]


def _kind(path) -> str:
    """The file's kind by the naming of tests/fixtures/synthea/README.md."""
    if path.stem.startswith("order-sign-"):
        return "order-sign"
    return "control" if path.stem.endswith("-control") else "lbp"


def test_the_set_has_every_kind():
    kinds = [_kind(p) for p in SYNTHEA]
    assert kinds.count("lbp") >= 10
    assert kinds.count("order-sign") >= 2
    assert kinds.count("control") >= 2
    assert sum(p.stat().st_size for p in SYNTHEA) < 2_500_000


@pytest.mark.parametrize("path", SYNTHEA, ids=[p.stem for p in SYNTHEA])
def test_accepted_over_http(live_server, path):
    request = _load(path)
    response = requests.post(
        f"{live_server.url}/cds-services/{HOOK_TO_SERVICE[request['hook']]}", json=request,
        timeout=60)
    assert response.status_code == 200, response.text
    assert isinstance(response.json().get("cards"), list)


@pytest.mark.parametrize("path", SYNTHEA, ids=[p.stem for p in SYNTHEA])
def test_shape(path):
    request = _load(path)
    context, prefetch = request["context"], request["prefetch"]
    uuid.UUID(request["hookInstance"])
    assert "fhirServer" not in request
    patient_id = context["patientId"]
    assert prefetch["patient"]["id"] == patient_id
    for key in ("conditions", "procedures", "coverage"):
        assert prefetch[key]["resourceType"] == "Bundle"
        assert prefetch[key]["type"] == "searchset"
    # Synthea's codes as written: no ICD-10-CM coding was added anywhere.
    assert not [c for c in _codings(request) if c[0] == ICD10CM]
    # Transaction references rewritten to the Type/id a FHIR server returns.
    references = [value for key, value in _walk(request) if key == "reference"]
    assert references and not [r for r in references if r.startswith("urn:")]
    for resource in [prefetch["encounter"]] if "encounter" in prefetch else []:
        assert resource["subject"]["reference"] == f"Patient/{patient_id}"
    for key, field in (("conditions", "subject"), ("procedures", "subject"),
                       ("coverage", "beneficiary")):
        for resource in _entries(prefetch[key]):
            assert resource[field]["reference"] == f"Patient/{patient_id}"

    if "encounterId" in context:
        encounter = prefetch["encounter"]
        assert encounter["id"] == context["encounterId"]
        service_day = date.fromisoformat(encounter["period"]["start"][:10])
        assert WINDOW[0] <= service_day <= WINDOW[1]
        # nothing in the record dated after the visit
        for resource in _entries(prefetch["conditions"]) + _entries(prefetch["procedures"]):
            when = resource.get("onsetDateTime") or resource.get("performedDateTime") or (
                resource.get("performedPeriod") or {}).get("start")
            assert date.fromisoformat(when[:10]) <= service_day

    lbp = _lbp_conditions(request)
    if _kind(path) == "lbp":
        assert f"Encounter/{context['encounterId']}" in {
            c.get("encounter", {}).get("reference") for c in lbp}
    elif _kind(path) == "control":
        assert not lbp
        assert any(c.get("encounter", {}).get("reference") == f"Encounter/{context['encounterId']}"
                   for c in _entries(prefetch["conditions"]))
    else:
        orders = _entries(context["draftOrders"])
        assert [(o["resourceType"], list(_codings(o["code"]))) for o in orders] == [
            ("ServiceRequest", [(CPT, "97110")])]
        reasons = {r["reference"] for r in orders[0]["reasonReference"]}
        assert reasons & {f"Condition/{c['id']}" for c in lbp}

"""GET /healthz, /readyz, /metrics (in one process) and /openapi.json."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cds_service import create_app
from cds_service.hooks import SERVICES
from cds_service.settings import Settings
from tests.db_support import databases_fixture
from tests.support.examples import load_example
from tests.support.live_server import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def fresh_app():
    """An app of its own, for tests that break a part of its state."""
    return create_app(dataclasses.replace(Settings.load({}), auth_disabled=True))


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "up"}


def test_readyz_when_everything_is_loaded(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["checks"]["valuesets"]["status"] == "pass"
    assert body["checks"]["valuesets"]["valueSets"] + body["checks"]["valuesets"][
        "conceptMaps"] > 0
    assert body["checks"]["cardTemplates"]["status"] == "pass"
    assert body["checks"]["cardTemplates"]["templates"] >= 1


def test_readyz_fails_without_a_compiled_card_template(fresh_app):
    templates = fresh_app.extensions["cds"].pipeline.renderer.templates
    templates.pop("invalid-code")
    response = fresh_app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not-ready"
    assert body["checks"]["cardTemplates"] == {
        "status": "fail", "detail": "no compiled template for invalid-code"}


class _Store:
    def __init__(self, error: Exception | None):
        self.error = error
        self.pings = 0

    def ping(self) -> bool:
        self.pings += 1
        if self.error:
            raise self.error
        return True


def test_readyz_pings_the_database_and_hides_its_error(fresh_app):
    state = fresh_app.extensions["cds"]
    state.feedback_store = _Store(None)
    client = fresh_app.test_client()
    ok = client.get("/readyz")
    assert ok.status_code == 200 and ok.get_json()["checks"]["database"] == {"status": "pass"}

    state.feedback_store = _Store(ConnectionRefusedError(
        "could not connect to postgresql://cds:hunter2@db.internal:5432/cds"))
    down = client.get("/readyz")
    assert down.status_code == 503
    assert down.get_json()["checks"]["database"] == {
        "status": "fail", "detail": "database not reachable (ConnectionRefusedError)"}
    assert b"hunter2" not in down.data and b"db.internal" not in down.data
    assert state.feedback_store.pings == 1


def test_openapi_json_is_the_checked_in_document(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == json.loads((ROOT / "cds_service/openapi.json").read_text())


def _documented_operations() -> set[tuple[str, str]]:
    document = json.loads((ROOT / "cds_service/openapi.json").read_text())
    return {(method.upper(), path) for path, item in document["paths"].items()
            for method in item if method in ("get", "post", "put", "patch", "delete")}


def test_every_route_is_in_the_openapi_document(app):
    documented = _documented_operations()
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue  # files (the analytics page's script and style), not API
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            expanded = {(method, path.replace("{service_id}", sid)) for sid in SERVICES}
            if (method, path) not in documented and not expanded <= documented:
                missing.append(f"{method} {rule.rule}")
    assert not missing, f"routes missing from cds_service/openapi.json: {missing}"


def test_every_documented_operation_is_served(app):
    adapter = app.url_map.bind("localhost")
    for method, path in _documented_operations():
        concrete = path.replace("{service_id}", next(iter(SERVICES)))
        endpoint, _ = adapter.match(concrete, method=method)
        assert endpoint != "static", path


def _samples(client) -> dict[tuple[str, tuple], float]:
    text = client.get("/metrics").get_data(as_text=True)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_and_cards_without_patient_data(client):
    service = "lbp-coding-encounter-discharge"
    request = load_example("retired-m545")["request"]
    before = _samples(client)
    answer = client.post(f"/cds-services/{service}", json=request)
    assert answer.status_code == 200
    cards = [c for c in answer.get_json()["cards"] if c["source"]["topic"]["code"] ==
             "invalid-code"]
    bad = client.post(f"/cds-services/{service}", data=b"{", content_type="application/json")
    assert bad.status_code == 400
    card = answer.get_json()["cards"][0]
    feedback = {"feedback": [{"card": card["uuid"], "outcome": "overridden",
                              "outcomeTimestamp": "2026-11-20T10:00:00Z"}]}
    assert client.post(f"/cds-services/{service}/feedback", json=feedback).status_code == 200
    after = _samples(client)

    common = {"endpoint": "services.call_service", "service": service,
              "hook": "encounter-discharge"}
    for status, sent in (("200", 1), ("400", 1)):
        key = ("cds_http_requests_total", {**common, "status": status})
        assert _value(after, key[0], **key[1]) - _value(before, key[0], **key[1]) == sent
    count = ("cds_http_request_duration_seconds_count", common)
    assert _value(after, count[0], **count[1]) - _value(before, count[0], **count[1]) == 2
    cards_key = {"service": service, "hook": "encounter-discharge", "rule_id": "invalid-code",
                 "indicator": "critical"}
    assert (_value(after, "cds_cards_total", **cards_key)
            - _value(before, "cds_cards_total", **cards_key)) == len(cards) >= 1
    feedback_key = {"service": service, "outcome": "overridden"}
    assert (_value(after, "cds_feedback_total", **feedback_key)
            - _value(before, "cds_feedback_total", **feedback_key)) == 1

    label_values = {value for (_, labels) in after for _, value in labels}
    context = request["context"]
    for private in (context["patientId"], context["userId"], context["encounterId"],
                    request["hookInstance"], card["uuid"]):
        assert private not in label_values
    label_names = {name for (metric, labels) in after if metric.startswith("cds_")
                   for name, _ in labels}
    assert label_names <= {"endpoint", "service", "hook", "status", "rule_id", "indicator",
                           "outcome", "le", "fiscal_year", "effective"}


def test_an_unknown_service_id_is_not_a_label(client):
    client.post("/cds-services/patient-12345", json={})
    label_values = {value for (_, labels) in _samples(client) for _, value in labels}
    assert "patient-12345" not in label_values


def test_fhir_fetch_outcomes_are_recorded_from_a_fixed_vocabulary(client):
    from cds_service.metrics import record_fhir_fetch

    before = _samples(client)
    record_fhir_fetch("timeout", 2.5)
    record_fhir_fetch("Patient/p1 not found")  # not a word: counted as 'other'
    after = _samples(client)
    for outcome in ("timeout", "other"):
        assert (_value(after, "cds_fhir_fetches_total", outcome=outcome)
                - _value(before, "cds_fhir_fetches_total", outcome=outcome)) == 1
    assert not any("Patient/p1" in value for (_, labels) in after for _, value in labels)


@pytest.fixture(scope="module")
def databases(tmp_path_factory):
    yield from databases_fixture(tmp_path_factory)


@pytest.mark.parametrize("reachable", [True, False])
def test_readyz_with_a_real_postgresql(reachable, databases):
    """The PostgreSQL feedback store on 127.0.0.1:5432 (db test, a schema of its own, so that
    no run leaves a migrated public schema behind), and one on a closed port."""
    port = 5432 if reachable else free_port()
    url = (databases.postgresql().url if reachable
           else f"postgresql://postgres@127.0.0.1:{port}/test")
    settings = Settings.load({"DATABASE_URL": url,
                              "CDS_PATIENT_HASH_KEY": "readiness-test-key-" + "k" * 32})
    app = create_app(dataclasses.replace(settings, auth_disabled=True))
    try:
        response = app.test_client().get("/readyz")
    finally:
        app.extensions["cds"].feedback_store.close()
    database = response.get_json()["checks"]["database"]
    if reachable:
        assert response.status_code == 200 and database == {"status": "pass"}
    else:
        assert response.status_code == 503 and database["status"] == "fail"
        assert str(port) not in database["detail"]

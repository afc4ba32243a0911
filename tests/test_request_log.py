"""Structured logs (cds_service/logs.py, cds_service/http/request_log.py): one JSON object per
line, one line per request with its ids and outcome, and no patient data or token at any level.

The whole run's logs are scanned at the end of the session (tests/support/logs.py, wired in
conftest.py); the canary test here sends patient data that no log may repeat, through every
kind of answer, and checks its server's log at once as well.
"""

from __future__ import annotations

import copy
import json
import logging
import sys
import uuid

import pytest
import requests

from cds_service.logs import JsonFormatter
from tests.support import logs
from tests.support.examples import EXAMPLES, load_example
from tests.support.live_server import LiveServer

DISCHARGE = "lbp-coding-encounter-discharge"
HOOK_URL = f"/cds-services/{DISCHARGE}"


@pytest.fixture(scope="module")
def server():
    live = LiveServer(workers=1)  # logs at DEBUG (conftest)
    yield live
    live.stop()


def entries(server) -> list[dict]:
    return [json.loads(line) for line in server.log_text().splitlines() if line.strip()]


def request_line(server, request_id: str) -> dict:
    found = [e for e in entries(server)
             if e.get("event") == "request" and e.get("request_id") == request_id]
    assert len(found) == 1, found
    return found[0]


def discharge_request() -> dict:
    return copy.deepcopy(load_example("retired-m545")["request"])


def test_every_line_is_one_json_object(server):
    requests.get(f"{server.url}/cds-services", timeout=10)
    requests.post(f"{server.url}{HOOK_URL}", json=discharge_request(), timeout=30)
    lines = server.log_text().splitlines()
    assert lines
    for line in lines:
        entry = json.loads(line)  # gunicorn's own lines included
        assert {"ts", "level", "logger", "message"} <= set(entry), entry
    assert any(json.loads(line)["logger"].startswith("gunicorn") for line in lines)


def test_a_hook_call_logs_its_ids_status_duration_and_rules(server):
    request_id = f"ehr-{uuid.uuid4().hex}"
    body = discharge_request()
    response = requests.post(f"{server.url}{HOOK_URL}", json=body,
                             headers={"X-Request-ID": request_id}, timeout=30)
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == request_id
    line = request_line(server, request_id)
    assert line["service_id"] == DISCHARGE
    assert line["hook"] == "encounter-discharge"
    assert line["hookInstance"] == body["hookInstance"]
    assert line["status"] == 200
    assert line["rule_ids"] == ["invalid-code"]
    assert line["card_count"] == 1
    assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
    assert line["route"] == "/cds-services/<service_id>"


def test_an_error_is_logged_with_its_status(server):
    request_id = f"ehr-{uuid.uuid4().hex}"
    response = requests.post(f"{server.url}{HOOK_URL}", data=b"{", timeout=10,
                             headers={"X-Request-ID": request_id,
                                      "Content-Type": "application/json"})
    assert response.status_code == 400
    line = request_line(server, request_id)
    assert line["status"] == 400
    assert line["service_id"] == DISCHARGE
    assert line["rule_ids"] == []


@pytest.mark.parametrize("offered", ["short", "has spaces in it", "x" * 65,
                                     "latin1-\u00e9\u00e9\u00e9\u00e9", "../../etc/passwd"])
def test_an_unsafe_request_id_is_replaced(server, offered):
    response = requests.get(f"{server.url}/cds-services", headers={"X-Request-ID": offered},
                            timeout=10)
    generated = response.headers["X-Request-ID"]
    assert generated != offered
    assert len(generated) == 32 and int(generated, 16) >= 0
    request_line(server, generated)


def test_the_raw_path_of_an_unknown_url_is_not_logged(server):
    marker = f"Patient-{uuid.uuid4().hex}"
    logs.register_secret(marker, "patient id in a URL")
    assert requests.get(f"{server.url}/fhir/{marker}", timeout=10).status_code == 404
    assert marker not in server.log_text()


def _canaries() -> dict[str, str]:
    tag = uuid.uuid4().hex[:12]
    values = {
        "patient_id": f"canary-pt-{tag}",
        "family": f"Canaryfamily{tag}",
        "given": f"Canarygiven{tag}",
        "note": f"Canary note {tag}: pain radiating to the left leg after lifting",
        "mrn": f"MRN-canary-{tag}",
        "access_token": f"canary-access-token-{tag}",
        "code_text": f"canary diagnosis text {tag}",
    }
    for kind, value in values.items():
        logs.register_secret(value, f"canary {kind}")
    return values


def _canary_requests(canary: dict[str, str]) -> list[tuple[str, bytes]]:
    """Requests carrying the canaries, answered 200, 400, 412 and 413."""
    body = discharge_request()
    body["context"]["patientId"] = canary["patient_id"]
    body["fhirAuthorization"] = {"access_token": canary["access_token"], "token_type": "Bearer"}
    prefetch = body["prefetch"]
    prefetch["patient"].update(id=canary["patient_id"], name=[
        {"family": canary["family"], "given": [canary["given"]]}],
        identifier=[{"system": "urn:mrn", "value": canary["mrn"]}])
    condition = prefetch["conditions"]["entry"][0]["resource"]
    condition["note"] = [{"text": canary["note"]}]
    condition["code"]["text"] = canary["code_text"]
    condition["subject"] = {"reference": f"Patient/{canary['patient_id']}"}
    ok = json.dumps(body).encode()

    invalid = copy.deepcopy(body)
    invalid["prefetch"]["conditions"]["entry"][0]["resource"]["onsetDateTime"] = canary["note"]
    wrong_type = copy.deepcopy(body)
    wrong_type["prefetch"]["conditions"]["entry"][0]["resource"]["resourceType"] = canary["mrn"]
    missing = copy.deepcopy(body)
    del missing["prefetch"]["conditions"]
    del missing["fhirServer"], missing["fhirAuthorization"]
    duplicate = ok.replace(b'"hook": ', f'"{canary["family"]}": 1, "{canary["family"]}": 2, '
                           '"hook": '.encode(), 1)
    too_big = ok[:-1] + b', "pad": "' + canary["note"].encode() * 200_000 + b'"}'
    return [("200", ok), ("400", json.dumps(invalid).encode()),
            ("400", json.dumps(wrong_type).encode()), ("412", json.dumps(missing).encode()),
            ("400", duplicate), ("413", too_big), ("400", ok[: len(ok) // 2])]


def test_patient_data_and_tokens_never_reach_the_server_log(server):
    canary = _canaries()
    for expected, data in _canary_requests(canary):
        response = requests.post(f"{server.url}{HOOK_URL}", data=data, timeout=30,
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {canary['access_token']}"})
        assert str(response.status_code) == expected, response.text[:300]
    text = server.log_text()
    for kind, value in canary.items():
        assert value not in text, kind
    assert '"level":"debug"' in text  # the server did log at DEBUG


def test_patient_data_and_tokens_never_reach_the_in_process_log(client):
    canary = _canaries()
    for expected, data in _canary_requests(canary):
        response = client.post(HOOK_URL, data=data, content_type="application/json")
        assert str(response.status_code) == expected
    leaks = logs.scan(logs.LOG_DIR, {})
    assert leaks == [], [str(leak) for leak in leaks]


# -- the scanner and the formatter themselves -----------------------------------------------


def test_the_scanner_finds_a_planted_leak(tmp_path):
    markers = logs.fixture_markers(EXAMPLES)
    assert any(kind == "note text" for kind in markers.values())
    some_note = next(value for value, kind in markers.items() if kind == "note text")
    secret = logs.register_secret(f"planted-{uuid.uuid4().hex}", "planted")
    jwt_like = "eyJhbGciOiJFUzM4NCJ9.eyJpc3MiOiJodHRwczovL2VociJ9.c2lnbmF0dXJl"
    (tmp_path / "cds-1.log").write_text(
        "\n".join([json.dumps({"message": "fine"}), json.dumps({"x": secret}),
                   json.dumps({"note": some_note}), f"token {jwt_like}",
                   "Authorization: Bearer abcdefghijklmnopqrstuvwxyz"]))
    leaks = logs.scan(tmp_path, markers)
    assert [(leak.line, leak.kind) for leak in leaks] == [
        (2, "planted"), (3, "note text"), (4, "JWT-shaped string"), (5, "bearer token")]
    assert all(secret not in str(leak) and some_note not in str(leak) for leak in leaks)


def test_the_formatter_writes_an_exception_without_its_message():
    try:
        raise ValueError("Patient Jane Canary, MRN 12345")
    except ValueError:
        record = logging.LogRecord("cds_service.x", logging.ERROR, __file__, 1, "failed", (),
                                   sys.exc_info())
    record.service_id = DISCHARGE
    line = json.loads(JsonFormatter().format(record))
    assert line["exc_type"] == "ValueError"
    assert line["service_id"] == DISCHARGE
    assert line["stack"] and "test_request_log.py" in line["stack"][-1]
    assert "Jane" not in json.dumps(line) and "12345" not in json.dumps(line)

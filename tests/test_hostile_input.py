"""Hostile input against the real server: each gets a 4xx with a message that names the problem,
never a 500, and the server keeps answering (the same worker, no restart).

Deeply nested JSON, huge arrays, wrong types at every level of the envelope, bytes that are not
UTF-8, duplicate keys, a 50 MB body (refused as it streams in, never buffered), resources of
unexpected types in prefetch, and references to nowhere. Slow clients (dripping headers or
bodies), a hook call past its time budget, and gunicorn's own log lines on a malformed header
and on a worker timeout.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.examples import load_example
from tests.support.live_server import LiveServer

DISCHARGE = "lbp-coding-encounter-discharge"
ORDER_SIGN = "lbp-coding-order-sign"
JSON_HEADERS = {"Content-Type": "application/json"}
MB = 1024 * 1024


@pytest.fixture(scope="module")
def server():
    """A server of its own (one worker), so that its log and its worker can be checked after."""
    live = LiveServer(workers=1)
    live.first_workers = _workers(live)
    yield live
    live.stop()


def _workers(server: LiveServer) -> list[int]:
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return sorted(int(child) for child in children)


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def discharge() -> dict:
    body = copy.deepcopy(load_example("retired-m545")["request"])
    body["fhirAuthorization"] = {"access_token": "opaque-access-token", "token_type": "Bearer",
                                 "expires_in": 300, "scope": "patient/*.read",
                                 "subject": "cds-service"}
    return body


def order() -> dict:
    return copy.deepcopy(load_example("medicare-cmt-needs-subluxation")["request"])


def post_raw(server, data: bytes, service: str = DISCHARGE, **kwargs) -> requests.Response:
    return requests.post(f"{server.url}/cds-services/{service}", data=data,
                         headers=kwargs.pop("headers", JSON_HEADERS), timeout=60, **kwargs)


def post(server, body: Any, service: str = DISCHARGE) -> requests.Response:
    return post_raw(server, json.dumps(body).encode(), service)


def outcome(response: requests.Response, status: int | tuple[int, ...], *fragments: str) -> dict:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    message = body["issue"][0]["diagnostics"]
    assert message
    for fragment in fragments:
        assert fragment in message, message
    return body


# -- deeply nested JSON ---------------------------------------------------------------------


def test_nesting_beyond_the_parser_is_400(server):
    outcome(post_raw(server, b"[" * 100_000 + b"]" * 100_000), 400, "nested too deeply")
    outcome(post_raw(server, b'{"a":' * 50_000 + b"1" + b"}" * 50_000), 400, "nested too deeply")


@pytest.mark.parametrize("depth", [50, 300, 480])
def test_deep_nesting_inside_a_resource_is_400(server, depth):
    body = discharge()
    body["prefetch"]["conditions"]["entry"][0]["resource"]["contained"] = "@@"
    nested = '[{"resourceType":"Condition","contained":' * depth + "[]" + "}]" * depth
    data = json.dumps(body).replace('"@@"', nested).encode()
    outcome(post_raw(server, data), 400, "prefetch.conditions.entry[0]")


def test_deep_nesting_where_the_service_does_not_look_is_harmless(server):
    body = discharge()
    body["extension"] = "@@"
    data = json.dumps(body).replace('"@@"', '{"x":' * 400 + "1" + "}" * 400).encode()
    assert post_raw(server, data).status_code == 200


# -- huge arrays ----------------------------------------------------------------------------


def test_an_array_over_the_size_limit_is_413(server):
    outcome(post_raw(server, json.dumps([0] * 3_000_000).encode()), 413, "larger")


def test_a_huge_array_of_junk_entries_is_400_at_the_first(server):
    body = discharge()
    body["prefetch"]["conditions"]["entry"] = [{}] * 200_000
    outcome(post(server, body), 400, "prefetch.conditions.entry[0]")


def test_a_huge_array_of_valid_entries_is_answered(server):
    body = discharge()
    body["prefetch"]["conditions"]["entry"] = [
        {"resource": {"resourceType": "Condition", "subject": {"reference": "Patient/p1"}}}
    ] * 50_000
    response = post(server, body)
    assert response.status_code == 200, response.text[:300]
    assert response.json() == {"cards": []}


def test_a_huge_top_level_array_is_400(server):
    outcome(post(server, list(range(200_000))), 400, "JSON object")


# -- wrong types at every level of the envelope ---------------------------------------------

VALUES = [None, True, 0, 1.5, "text", [], {}]
# null means "no such data" here (CDS Hooks §Prefetch), or "not sent"
NULLABLE = {"fhirAuthorization", "prefetch", "prefetch.patient", "prefetch.encounter",
            "prefetch.conditions", "prefetch.procedures", "prefetch.coverage"}
CONDITION = "prefetch.conditions.entry[0].resource"
DISCHARGE_PATHS = [
    "", "hook", "hookInstance", "context", "context.userId", "context.patientId",
    "context.encounterId", "fhirServer", "fhirAuthorization", "fhirAuthorization.access_token",
    "fhirAuthorization.token_type", "fhirAuthorization.expires_in", "fhirAuthorization.scope",
    "fhirAuthorization.subject", "prefetch", "prefetch.patient", "prefetch.patient.birthDate",
    "prefetch.encounter", "prefetch.encounter.period", "prefetch.encounter.period.start",
    "prefetch.encounter.status", "prefetch.conditions", "prefetch.conditions.entry",
    "prefetch.conditions.entry[0]", CONDITION, f"{CONDITION}.resourceType", f"{CONDITION}.code",
    f"{CONDITION}.code.coding", f"{CONDITION}.code.coding[0]", f"{CONDITION}.code.coding[0].code",
    f"{CONDITION}.code.coding[0].system", f"{CONDITION}.subject", f"{CONDITION}.encounter",
    f"{CONDITION}.encounter.reference", f"{CONDITION}.note", f"{CONDITION}.note[0].text",
    f"{CONDITION}.recordedDate", f"{CONDITION}.clinicalStatus", "prefetch.procedures",
    "prefetch.procedures.entry",
]
ORDER = "context.draftOrders.entry[0].resource"
ORDER_PATHS = [
    "context.draftOrders", "context.draftOrders.entry", "context.draftOrders.entry[0]", ORDER,
    f"{ORDER}.code", f"{ORDER}.code.coding", f"{ORDER}.status", f"{ORDER}.subject",
    "prefetch.coverage",
]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _get(body: Any, parts: list[str]) -> Any:
    for part in parts:
        body = body[int(part[1:-1])] if part.startswith("[") else body[part]
    return body


def _set(body: dict, path: str, value: Any) -> Any:
    if not path:
        return value
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    parent = _get(body, parts[:-1])
    last = parts[-1]
    parent[int(last[1:-1]) if last.startswith("[") else last] = value
    return body


def _wrong_type_cases() -> list:
    cases = []
    for service, make, paths in ((DISCHARGE, discharge, DISCHARGE_PATHS),
                                 (ORDER_SIGN, order, ORDER_PATHS)):
        base = make()
        for path in paths:
            parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
            original = _json_type(_get(base, parts))
            for value in VALUES:
                if _json_type(value) != original:
                    cases.append(pytest.param(service, path, value,
                                              id=f"{path or 'body'}={json.dumps(value)}"))
    return cases


@pytest.mark.parametrize("service, path, value", _wrong_type_cases())
def test_wrong_type_at_every_level_is_a_clear_4xx(server, service, path, value):
    body = _set(discharge() if service == DISCHARGE else order(), path, value)
    response = post(server, body, service)
    if value is None and path in NULLABLE:
        assert response.status_code in (200, 412), response.text[:300]
        return
    result = outcome(response, 400)
    top = (path or "body").split(".")[0].split("[")[0]
    issue = result["issue"][0]
    named = " ".join([issue["diagnostics"], *issue.get("expression", [])])
    assert top in named or (top == "body" and "JSON object" in named), named


# -- bytes that are not UTF-8 ---------------------------------------------------------------


@pytest.mark.parametrize(
    "data, fragment",
    [
        (b'{"hook": "\xff\xfe"}', "UTF-8"),
        ('{"hook": "encounter-discharge", "x": "caf\u00e9"}'.encode("latin-1"), "UTF-8"),
        ('{"hook": "encounter-discharge"}'.encode("utf-16"), "UTF-8"),
        (b'{"hook": "\xc0\xaf"}', "UTF-8"),  # an overlong encoding of "/"
        (b'{"hook": "\xed\xa0\x80"}', "UTF-8"),  # a surrogate encoded in UTF-8
        (b"\xef\xbb\xbf" + json.dumps({"hook": "x"}).encode(), "not valid JSON"),  # a BOM
        (b'{"hook": "encounter-discharge\x00"}', "not valid JSON"),  # raw NUL in a string
    ],
    ids=["ff-fe", "latin-1", "utf-16", "overlong", "encoded-surrogate", "utf-8-bom", "raw-nul"],
)
def test_bytes_that_are_not_utf8_json_are_400(server, data, fragment):
    outcome(post_raw(server, data), 400, fragment)


def test_escaped_lone_surrogates_do_not_break_the_answer(server):
    response = post_raw(server, b'{"\\ud800": 1, "\\ud800": 2}')
    outcome(response, 400, "repeats the key")
    body = discharge()
    body["context"]["patientId"] = "\ud800"
    outcome(post(server, body), 400, "context.patientId")


# -- duplicate keys -------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["top", "context", "resource"])
def test_duplicate_keys_are_400(server, where):
    text = json.dumps(discharge())
    marker = {"top": '"hook": ', "context": '"patientId": ', "resource": '"recordedDate": '}[where]
    head, tail = text.split(marker, 1)
    value = json.dumps(json.loads("[" + tail.split(",", 1)[0].rstrip("}] ") + "]")[0])
    data = (head + marker + value + ", " + marker + tail).encode()
    outcome(post_raw(server, data), 400, "repeats the key")


# -- numbers JSON does not have ----------------------------------------------------------------


@pytest.mark.parametrize("number, fragment", [
    ("NaN", "NaN is not a JSON number"), ("Infinity", "Infinity is not a JSON number"),
    ("-Infinity", "-Infinity is not a JSON number"), ("1e400", "too large"),
    ("-2.5e308", "too large"),
], ids=["nan", "infinity", "minus-infinity", "overflow", "negative-overflow"])
def test_numbers_that_json_does_not_have_are_400(server, number, fragment):
    """RFC 8259 has no NaN or Infinity, and a number beyond a double would be read as one."""
    text = json.dumps(discharge())
    data = text.replace('"hook": ', f'"extension": {number}, "hook": ', 1).encode()
    outcome(post_raw(server, data), 400, fragment)


def test_ordinary_decimals_pass(server):
    body = discharge()
    body["prefetch"]["encounter"]["length"] = {"value": 1.5e-3, "unit": "h"}
    assert post(server, body).status_code == 200


# -- a 50 MB body ---------------------------------------------------------------------------

REQUEST_LINE = f"POST /cds-services/{DISCHARGE} HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def _raw_exchange(server, head: str, body_parts) -> bytes:
    """Send the head and some of a body, then read the answer without sending the rest: a
    server that buffered the whole body first would never answer (the socket times out)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head.encode())
        for part in body_parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered and closed before the body ended: what we want
        answer = b""
        while b"\r\n\r\n" not in answer:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
        return answer


def test_50mb_with_content_length_is_refused_before_it_arrives(server):
    head = (REQUEST_LINE + "Content-Type: application/json\r\n"
            f"Content-Length: {50 * MB}\r\n\r\n")
    answer = _raw_exchange(server, head, [b"x" * 65536] * 16)  # 1 MB of the 50 sent
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_50mb_chunked_is_refused_at_the_limit(server):
    head = (REQUEST_LINE + "Content-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n" % 65536 + b"x" * 65536 + b"\r\n"
    answer = _raw_exchange(server, head, [chunk] * 100)  # 6.25 MB, past the 5 MB limit
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_50mb_sent_whole_is_413_and_never_held_in_memory(server):
    worker = _workers(server)[0]
    peak_before = _peak_rss_kb(worker)
    outcome(post_raw(server, b"x" * (50 * MB)), 413, "larger")

    def stream():
        for _ in range(50 * 16):
            yield b"x" * 65536

    try:
        response = post_raw(server, stream())  # chunked
    except requests.ConnectionError:
        response = None  # the server may close the connection after answering early
    if response is not None:
        outcome(response, 413, "larger")
    assert _peak_rss_kb(worker) - peak_before < 25 * 1024  # MB held: far below 50


# -- resources of unexpected types in prefetch ----------------------------------------------


def _condition() -> dict:
    return discharge()["prefetch"]["conditions"]["entry"][0]["resource"]


@pytest.mark.parametrize(
    "key, value, fragment",
    [
        ("patient", lambda: _condition(), "prefetch.patient must be a resource of type Patient"),
        ("encounter", lambda: {"resourceType": "Bundle", "type": "searchset"},
         "prefetch.encounter must be a resource of type Encounter"),
        ("conditions", lambda: _condition(), "Bundle of Condition"),
        ("conditions", lambda: {"resourceType": "Bundle", "type": "searchset", "entry": [
            {"resource": {"resourceType": "Observation", "status": "final",
                          "code": {"text": "x"}}}]}, "is a Observation"),
        ("conditions", lambda: {"resourceType": "Bundle", "type": "searchset", "entry": [
            {"resource": {"resourceType": "Bogus", "id": "x"}}]}, "unknown resourceType"),
        ("conditions", lambda: {"resourceType": "Bundle", "type": "searchset", "entry": [
            {"resource": {"resourceType": 5}}]}, "resourceType"),
        ("conditions", lambda: {"resourceType": "Bundle", "type": "searchset", "entry": [
            {"resource": {"id": "no-type"}}]}, "resourceType is required"),
        ("procedures", lambda: {"resourceType": "Patient", "id": "x"}, "Bundle of Procedure"),
        ("coverage", lambda: {"resourceType": "Bundle", "entry": [
            {"resource": _condition()}]}, "is a Condition"),
    ],
)
def test_resources_of_unexpected_types_in_prefetch_are_400(server, key, value, fragment):
    body = discharge()
    body["prefetch"][key] = value()
    outcome(post(server, body), 400, fragment)


def test_an_included_resource_of_another_type_is_allowed(server):
    body = discharge()
    body["prefetch"]["conditions"]["entry"].append(
        {"resource": {"resourceType": "Patient", "id": "p1"}, "search": {"mode": "include"}})
    assert post(server, body).status_code == 200


def test_a_draft_order_that_is_not_an_order_is_400(server):
    body = order()
    body["context"]["draftOrders"]["entry"][0]["resource"] = {"resourceType": "Patient",
                                                              "id": "p1"}
    outcome(post(server, body, ORDER_SIGN), 400, "not an order resource")


@pytest.mark.parametrize("authored", [5, True, [], {"day": 1}, "next week", "2026-02-30"])
def test_a_draft_order_dated_wrongly_is_400_never_today(server, authored):
    """authoredOn dates an order-sign visit: a wrong one was a 500 (a number) or read as today
    (a string that is no date)."""
    body = order()
    body["context"]["draftOrders"]["entry"][0]["resource"]["authoredOn"] = authored
    answer = outcome(post(server, body, ORDER_SIGN), 400, f"{ORDER}.authoredOn")
    assert answer["issue"][0]["expression"] == [f"{ORDER}.authoredOn"]


def test_unknown_prefetch_keys_are_ignored(server):
    body = discharge()
    body["prefetch"]["surprise"] = {"resourceType": "Bogus"}
    assert post(server, body).status_code == 200


# -- references to nowhere ------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, reference",
    [
        ("encounter", "Encounter/does-not-exist"),
        ("encounter", "#not-contained"),
        ("encounter", "urn:uuid:6b0b2b1c-5f86-4c0b-9d83-6f1a2c3f4d5e"),
        ("encounter", "https://elsewhere.example.test/fhir/Encounter/e1"),
        ("encounter", "Observation/e1"),
        ("subject", "Patient/someone-else"),
        ("subject", "Group/g1"),
    ],
)
def test_references_to_nowhere_are_not_followed_and_not_fatal(server, field, reference):
    body = discharge()
    resource = body["prefetch"]["conditions"]["entry"][0]["resource"]
    resource[field] = {"reference": reference}
    response = post(server, body)
    assert response.status_code in (200, 400), response.text[:300]
    if response.status_code == 200:
        assert isinstance(response.json()["cards"], list)
    else:
        outcome(response, 400)


def test_a_procedure_citing_a_condition_that_is_not_there(server):
    body = discharge()
    body["prefetch"]["procedures"]["entry"] = [{"resource": {
        "resourceType": "Procedure", "id": "pr1", "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "97140"}]},
        "reasonReference": [{"reference": "Condition/nowhere"}, {"reference": "#gone"}],
        "performedDateTime": "2026-03-02",
    }}]
    assert post(server, body).status_code == 200


# -- and the server is still there ----------------------------------------------------------


def test_after_all_of_it_the_server_still_answers(server):
    response = requests.get(f"{server.url}/cds-services", timeout=10)
    assert response.status_code == 200
    assert len(response.json()["services"]) >= 2
    answer = post(server, discharge())
    assert answer.status_code == 200
    assert [c["source"]["topic"]["code"] for c in answer.json()["cards"]] == ["invalid-code"]
    assert _workers(server) == server.first_workers  # no worker died or was restarted
    errors = [line for line in server.log_text().splitlines()
              if '"level":"error"' in line or '"level":"critical"' in line]
    assert errors == []


# -- slow clients: dripping headers or bodies hold no worker ----------------------------------

SLOW_CLIENTS = 16


def _drip_connections(port: int, kind: str) -> list[socket.socket]:
    """SLOW_CLIENTS connections that have begun a request and will send the rest slowly."""
    connections = []
    for _ in range(SLOW_CLIENTS):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if kind == "headers":
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        else:
            sock.sendall(f"POST /cds-services/{DISCHARGE} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
                         .encode())
        connections.append(sock)
    return connections


def _drip(connections: list[socket.socket], kind: str) -> None:
    for sock in connections:
        # the server may close a connection that takes too long: it may
        with contextlib.suppress(OSError):
            sock.sendall(b"X-Slow: 1\r\n" if kind == "headers" else b" ")


@pytest.fixture(scope="module")
def two_worker_server():
    """The default deployment's shape (two workers, one thread each), read timeout 4 s."""
    live = LiveServer(workers=2, env={"CDS_CLIENT_READ_TIMEOUT": "4"})
    yield live
    live.stop()


@pytest.mark.parametrize("kind", ["headers", "body"])
def test_slow_clients_do_not_starve_health_checks_or_hook_calls(two_worker_server, kind):
    server = two_worker_server
    connections = _drip_connections(server.port, kind)
    answered = []
    try:
        for _ in range(6):  # 6 rounds, about 3 s: longer than any probe should take
            _drip(connections, kind)
            # the probe's timeout is the check: before, every probe waited for the worker
            # timeout (30 s); the figures (well under a second) are in docs/limits.md
            health = requests.get(f"{server.url}/healthz", timeout=5)
            hook = post(server, discharge()) if len(answered) % 2 == 0 else None
            answered.append((health.status_code, hook.status_code if hook else 200))
            time.sleep(0.3)
    finally:
        for sock in connections:
            sock.close()
    assert answered == [(200, 200)] * 6


def test_clients_trickling_bytes_after_their_last_request_do_not_stall_the_worker(server):
    """A connection closed after its response lingers for the client's last bytes: in the
    worker's loop, not blocking it (gunicorn's own graceful close waits up to 2 s there)."""

    def trickle() -> None:
        for _ in range(2):
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                until = time.monotonic() + 2.5
                while time.monotonic() < until:
                    try:
                        sock.send(b"x")
                    except OSError:
                        break
                    time.sleep(0.05)

    clients = [threading.Thread(target=trickle) for _ in range(4)]
    for client in clients:
        client.start()
    try:
        until = time.monotonic() + 5
        while time.monotonic() < until:
            # the timeout is the check: each lingering close held the loop 2 s or more before
            assert requests.get(f"{server.url}/healthz", timeout=1.5).status_code == 200
            time.sleep(0.1)
    finally:
        for client in clients:
            client.join()


def test_a_client_that_does_not_finish_its_request_in_time_gets_408(two_worker_server):
    server = two_worker_server
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for _ in range(6):  # 3 s of header lines, the read timeout being 4 s
            sock.sendall(b"X-Slow: 1\r\n")
            time.sleep(0.5)
        answer = b""
        while chunk := sock.recv(4096):  # then silence, until the server gives up
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]


def test_a_body_after_100_continue_and_a_chunked_body_are_read_whole(two_worker_server):
    server = two_worker_server
    data = json.dumps(discharge()).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(f"POST /cds-services/{DISCHARGE} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                     "Expect: 100-continue\r\n\r\n".encode())
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(data)
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    chunks = [data[i:i + 1000] for i in range(0, len(data), 1000)]
    assert post_raw(server, iter(chunks)).status_code == 200  # chunked, pieces of 1,000 bytes


# -- the time budget of a hook call ---------------------------------------------------------


def _many_diagnoses(count: int) -> dict:
    body = discharge()
    entries = body["prefetch"]["conditions"]["entry"]
    template = entries[0]["resource"]
    for number in range(count):
        condition = copy.deepcopy(template)
        condition["id"] = f"budget-condition-{number}"
        entries.append({"resource": condition})
    return body


def test_a_hook_call_past_its_budget_is_503_naming_the_stage_and_stores_nothing():
    import sqlite3

    server = LiveServer(workers=1, env={"CDS_REQUEST_BUDGET_SECONDS": "0.05"})
    try:
        response = post(server, _many_diagnoses(2000))
        body = outcome(response, 503, "time budget")
        from cds_service.deadline import STAGES

        assert body["issue"][0]["code"] == "transient"
        lines = [json.loads(line) for line in server.log_text().splitlines()
                 if '"budget_exceeded"' in line]
        assert len(lines) == 1
        assert lines[0]["stage"] in STAGES
        assert lines[0]["elapsed_ms"] > lines[0]["budget_ms"] == 50.0
        assert "budget-condition" not in server.log_text()
        with sqlite3.connect(server.data_dir / "cds-service.db") as connection:
            assert connection.execute("SELECT count(*) FROM cds_cards").fetchone()[0] == 0
        assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
    finally:
        server.stop()


# -- gunicorn's own log lines hold nothing the client sent ----------------------------------


def test_a_malformed_header_line_is_refused_and_not_logged(server):
    from tests.support.logs import register_secret

    secret = register_secret(f"hdr-{uuid.uuid4().hex}", "header value")
    query = register_secret(f"q{uuid.uuid4().hex}", "query string")
    for request in (
        f"GET /healthz?patient={query} HTTP/1.1\r\nHost: x\r\nBad Header {secret}\r\n\r\n",
        f"GET /healthz?patient={query} HTTP/1.1\r\nHost: x\r\nX-Bad\x01: {secret}\r\n\r\n",
        f"GET /healthz?patient={query} HTTP/1.1 {secret}\r\nHost: x\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(request.encode())
            assert sock.recv(4096).startswith(b"HTTP/1.1 400"), request
    time.sleep(0.5)  # the log line is written by the worker after it answered
    log = server.log_text()
    assert "Invalid request refused by the HTTP parser" in log
    assert secret not in log and query not in log


class _SlowFhirServer:
    """A FHIR server on loopback that answers nothing for ``delay`` seconds."""

    def __init__(self, delay: float):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                time.sleep(delay)
                body = b'{"resourceType":"Bundle","type":"searchset","entry":[]}'
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/fhir"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_worker_timeout_does_not_log_the_request_uri():
    from tests.support.logs import register_secret

    fhir = _SlowFhirServer(delay=8)
    server = LiveServer(workers=1, env={
        "CDS_WORKER_TIMEOUT": "2", "CDS_REQUEST_BUDGET_SECONDS": "0",  # no budget: the timeout
        "CDS_FHIR_ALLOWED_SERVERS": fhir.base, "CDS_FHIR_READ_TIMEOUT": "30",
        "CDS_FHIR_DEADLINE": "30"})
    try:
        query = register_secret(f"q{uuid.uuid4().hex}", "query string")
        body = discharge()
        body["fhirServer"] = fhir.base
        body["prefetch"] = {}
        try:  # the worker is killed mid-request: the connection drops (or a bare 500)
            answer = requests.post(f"{server.url}/cds-services/{DISCHARGE}?patient={query}",
                                   json=body, timeout=30)
            assert answer.status_code == 500, answer.status_code
        except requests.ConnectionError:
            pass
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "WORKER TIMEOUT" not in server.log_text():
            time.sleep(0.2)
        log = server.log_text()
        assert "WORKER TIMEOUT" in log
        assert query not in log and "/cds-services/" not in log.split("WORKER TIMEOUT")[1]
    finally:
        server.stop()
        fhir.stop()

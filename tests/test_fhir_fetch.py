"""FHIR server fallback (fhir/client.py): what prefetch left out is fetched from fhirServer.

Against real servers on loopback ports: Medplum's FHIR router over its in-memory repository
(tests/fhir_server/server.mjs, installed by scripts/test with npm ci) and the real
``cds-service serve``. Each Medplum process logs the requests it receives (GET /__admin/requests),
so the tests see exactly what the service sent, and with which Authorization header.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from benchmarks.workload import build_request
from cds_service.fhir.client import FetchFailed, FhirFetcher
from cds_service.fhir.urls import within_base
from cds_service.hooks import encounter_discharge
from cds_service.settings import Settings, SettingsError
from cds_service.settings.parsers import normalize_base_url
from tests.support.examples import EXAMPLES as EXAMPLE_FILES
from tests.support.examples import load_example
from tests.support.live_server import LiveServer, free_port

FHIR_SERVER_DIR = Path(__file__).parent / "fhir_server"
DISCHARGE = "lbp-coding-encounter-discharge"
TOKEN = "token-for-the-ehr-fhir-server"
PAGE_SIZE = 3
PAGED_CONDITIONS = 7  # patient p2: three pages of three, three and one
MANY_CONDITIONS = 26  # patient p4: 13 pages on a server that answers 2 a page

EXAMPLE = load_example("retired-m545")["request"]
FULL_PREFETCH = {
    **copy.deepcopy(EXAMPLE["prefetch"]),
    "coverage": {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []},
}


# -- the Medplum FHIR server ----------------------------------------------------------------


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        message = "node is not installed: the Medplum FHIR server for these tests cannot run"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    if not (FHIR_SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
        # scripts/test runs npm ci; this covers a bare `pytest` after a fresh checkout
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=FHIR_SERVER_DIR, check=True, stdin=subprocess.DEVNULL)
    return node


def seed_resources() -> list[dict]:
    """p1: the retired-M54.5 example (one Condition); p2: seven M54.5 Conditions, for paging."""
    prefetch = EXAMPLE["prefetch"]
    resources = [prefetch["patient"], prefetch["encounter"],
                 *(e["resource"] for e in prefetch["conditions"]["entry"])]
    patient2 = dict(prefetch["patient"], id="p2")
    encounter2 = dict(copy.deepcopy(prefetch["encounter"]), id="e2",
                      subject={"reference": "Patient/p2"})
    resources += [patient2, encounter2]
    template = prefetch["conditions"]["entry"][0]["resource"]
    for number in range(1, PAGED_CONDITIONS + 1):
        condition = copy.deepcopy(template)
        condition.update(id=f"p2c{number}", subject={"reference": "Patient/p2"},
                         encounter={"reference": "Encounter/e2"})
        resources.append(condition)
    resources += [dict(prefetch["patient"], id="p4"),
                  dict(copy.deepcopy(prefetch["encounter"]), id="e4",
                       subject={"reference": "Patient/p4"})]
    for number in range(1, MANY_CONDITIONS + 1):
        condition = copy.deepcopy(template)
        condition.update(id=f"p4c{number}", subject={"reference": "Patient/p4"},
                         encounter={"reference": "Encounter/e4"})
        resources.append(condition)
    return resources


def equivalence_resources() -> list[dict]:
    return [resource for tag, request in EQUIVALENCE_CASES.items()
            for resource in _prefetched_resources(_retag(request, tag))]


def _retag(value, tag: str):
    """A copy of a request (or resource) whose resource ids and references carry ``tag``, so
    that every case lives on one FHIR server without meeting another."""
    if isinstance(value, list):
        return [_retag(item, tag) for item in value]
    if not isinstance(value, dict):
        return value
    copied = {key: _retag(item, tag) for key, item in value.items()}
    if isinstance(copied.get("resourceType"), str) and isinstance(copied.get("id"), str):
        copied["id"] = tag + copied["id"]
    reference = copied.get("reference")
    if isinstance(reference, str) and "/" in reference and ":" not in reference:
        kind, _, ident = reference.partition("/")
        copied["reference"] = f"{kind}/{tag}{ident}"
    for name in ("patientId", "encounterId"):
        if isinstance(copied.get(name), str):
            copied[name] = tag + copied[name]
    return copied


def _prefetched_resources(request: dict) -> list[dict]:
    found = []
    for value in (request.get("prefetch") or {}).values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            found += [entry["resource"] for entry in value.get("entry", [])]
        elif isinstance(value, dict):
            found.append(value)
    return found


# The example requests and the benchmark workload's long-history patient: each answered once
# with the whole record in prefetch (the broad keys discovery used to ask for) and once with the
# narrow keys of today's discovery, fetched from the FHIR server; the rules must say the same.
EQUIVALENCE_CASES = {
    **{f"x{index}": load_example(path.stem)["request"]
       for index, path in enumerate(EXAMPLE_FILES)},
    "long": build_request(200),
}


class FhirTestServer:
    """One Medplum FHIR server process on a free loopback port."""

    def __init__(self, seed_file: Path, *options: str, port: int | None = None):
        node = _node()
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}/fhir"
        self.admin = f"http://127.0.0.1:{self.port}/__admin"
        self.log_path = seed_file.parent / f"medplum-{self.port}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [node, "server.mjs", "--port", str(self.port), "--seed", str(seed_file),
             "--page-size", str(PAGE_SIZE), *options],
            cwd=FHIR_SERVER_DIR, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"FHIR server exited: {self.log_path.read_text()[-2000:]}")
            try:
                requests.get(f"{self.admin}/requests", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the FHIR server did not start in time")

    def requests(self) -> list[dict]:
        return requests.get(f"{self.admin}/requests", timeout=10).json()

    def paths(self) -> list[str]:
        return [entry["url"].removeprefix("/fhir/").split("?")[0] for entry in self.requests()]

    def reset(self) -> None:
        requests.post(f"{self.admin}/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture(scope="module")
def fhir(tmp_path_factory):
    """The Medplum servers of this module, by role, and the CDS service allowed to use some."""
    _node()  # skips (fails under CI) before anything is started
    directory = tmp_path_factory.mktemp("fhir")
    seed = directory / "seed.json"
    seed.write_text(json.dumps(seed_resources()))
    servers: dict[str, FhirTestServer] = {}
    try:
        servers["plain"] = FhirTestServer(seed)
        servers["token"] = FhirTestServer(seed, "--token", TOKEN)
        servers["faulty"] = FhirTestServer(
            seed, "--fail", "Coverage=500", "--fail", "Procedure=outcome",
            "--fail", "Practitioner=badjson", "--fail", "Observation=redirect")
        servers["slow"] = FhirTestServer(seed, "--delay-ms", "20000")
        servers["sluggish"] = FhirTestServer(seed, "--delay-ms", "1000")
        # "elsewhere" is never on the allow-list; "hostile" links its search pages to it
        servers["elsewhere"] = FhirTestServer(seed)
        servers["hostile"] = FhirTestServer(seed, "--next-base", servers["elsewhere"].base,
                                            "--max-count", "3")
        servers["paged"] = FhirTestServer(seed, "--page-size", "2", "--max-count", "2")
        records = directory / "records.json"
        records.write_text(json.dumps(equivalence_resources()))
        servers["records"] = FhirTestServer(records)
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture()
def plain(fhir):
    fhir["plain"].reset()
    return fhir["plain"]


@pytest.fixture(scope="module")
def closed_port_base():
    return f"http://127.0.0.1:{free_port()}/fhir"


class FhirProxy:
    """A loopback proxy in front of a Medplum server that misbehaves on request: it drips its
    answers a byte at a time (``drip``), or changes the JSON it passes on (``transform``). It
    records every path asked for, and when each dripped answer started and stopped."""

    def __init__(self, upstream: FhirTestServer):
        self.upstream = upstream
        self.drip: float | None = None  # seconds between two bytes
        self.drip_head = False  # drip the status line and headers too, not only the body
        self.transform = None  # (relative url, JSON body) -> JSON body
        self.paths: list[str] = []
        self.drips: list[list[float | None]] = []  # [started, stopped]
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the http.server API)
                proxy.paths.append(self.path)
                if not self.path.startswith("/fhir/"):
                    self.send_error(404)
                    return
                relative = self.path.removeprefix("/fhir/")
                answer = requests.get(f"{proxy.upstream.base}/{relative}", timeout=10,
                                      headers={"Authorization": self.headers.get(
                                          "Authorization", "")})
                text = answer.text.replace(proxy.upstream.base, proxy.base)
                if proxy.transform is not None:
                    text = json.dumps(proxy.transform(relative, json.loads(text)))
                data = text.encode()
                drip = proxy.drip  # read once: a reset between two bytes must not stop us
                if drip is not None and proxy.drip_head:
                    head = (f"HTTP/1.1 {answer.status_code} OK\r\n"
                            "Content-Type: application/fhir+json\r\n"
                            f"Content-Length: {len(data)}\r\nX-Padding: {'x' * 200}\r\n\r\n")
                    data = head.encode() + data
                else:
                    self.send_response(answer.status_code)
                    self.send_header("Content-Type", "application/fhir+json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                if drip is None:
                    self.wfile.write(data)
                    return
                times: list[float | None] = [time.monotonic(), None]
                proxy.drips.append(times)
                try:
                    for index in range(len(data)):
                        self.wfile.write(data[index:index + 1])
                        self.wfile.flush()
                        time.sleep(drip)
                except OSError:
                    pass  # the client went away
                times[1] = time.monotonic()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/fhir"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        self.drip = self.transform = None
        self.drip_head = False
        self.paths.clear()
        self.drips.clear()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def proxy(fhir):
    server = FhirProxy(fhir["plain"])
    yield server
    server.stop()


@pytest.fixture()
def misbehaving(proxy):
    proxy.reset()
    yield proxy
    proxy.reset()


@pytest.fixture(scope="module")
def service(fhir, closed_port_base, proxy):
    allowed = [fhir[name].base for name in ("plain", "token", "faulty", "slow", "hostile",
                                            "paged")]
    allowed.append(proxy.base)
    server = LiveServer(env={
        "CDS_AUTH_DISABLED": "true",
        "CDS_FHIR_ALLOWED_SERVERS": ",".join([*allowed, closed_port_base + "/"]),
        "CDS_FHIR_CONNECT_TIMEOUT": "1",
        "CDS_FHIR_READ_TIMEOUT": "2",
        "CDS_FHIR_DEADLINE": "4",
        "CDS_FHIR_CACHE_TTL": "300",
    }, workers=1)  # one worker: the cache is per process, and the cache test needs one
    yield server
    server.stop()


def hook_body(fhir_server: str, keys=(), token: str | None = TOKEN, patient: str = "p1") -> dict:
    body = copy.deepcopy(EXAMPLE)
    body["hookInstance"] = str(uuid.uuid4())
    body["fhirServer"] = fhir_server
    body["context"].update(patientId=patient, encounterId="e1" if patient == "p1" else "e2")
    if token is not None:
        body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer",
                                     "expires_in": 300, "scope": "patient/*.read",
                                     "subject": "lbp-coding"}
    body["prefetch"] = {key: copy.deepcopy(FULL_PREFETCH[key]) for key in keys}
    return body


def call(service: LiveServer, body: dict) -> requests.Response:
    # the client's own timeout is the "no hang" check: the service must answer well before it
    return requests.post(f"{service.url}/cds-services/{DISCHARGE}", json=body, timeout=30)


def diagnostics(response: requests.Response) -> str:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", response.text
    return body["issue"][0]["diagnostics"]


def card_condition_ids(response: requests.Response) -> set[str]:
    return {action["resource"]["id"]
            for card in response.json()["cards"]
            for suggestion in card.get("suggestions", [])
            for action in suggestion["actions"] if "resource" in action}


def unique_token() -> str:
    # the cache is keyed by token too: a fresh token per test keeps tests independent
    return f"token-{uuid.uuid4()}"


# -- the hook calls, through the real service ------------------------------------------------


def test_full_prefetch_makes_no_request(service, plain):
    response = call(service, hook_body(plain.base, FULL_PREFETCH, token=unique_token()))
    assert response.status_code == 200, response.text
    assert card_condition_ids(response) == {"c1"}
    assert plain.requests() == []


def test_no_prefetch_fetches_every_key_with_the_token(service, plain):
    token = unique_token()
    response = call(service, hook_body(plain.base, (), token=token))
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    assert [c["source"]["topic"]["code"] for c in cards] == ["invalid-code"]
    assert card_condition_ids(response) == {"c1"}
    assert "Not available" not in cards[0]["detail"]
    seen = plain.requests()
    # the narrow keys of discovery: this encounter's Conditions, the active ones, earlier
    # injuries; this encounter's Procedures, an earlier spine operation; active Coverage
    assert sorted(plain.paths()) == ["Condition", "Condition", "Condition", "Coverage",
                                     "Encounter/e1", "Patient/p1", "Procedure", "Procedure"]
    assert {entry["authorization"] for entry in seen} == {f"Bearer {token}"}
    assert all("patient=Patient/p1" in e["url"] for e in seen if "?" in e["url"])
    assert all("_count=" in e["url"] for e in seen if "?" in e["url"])


def test_no_prefetch_gives_the_same_cards_as_full_prefetch(service, plain):
    fetched = call(service, hook_body(plain.base, (), token=unique_token())).json()["cards"]
    sent = call(service, hook_body(plain.base, FULL_PREFETCH, token=unique_token())).json()

    def comparable(cards):
        return [(c["summary"], c["detail"], c["indicator"],
                 [s["label"] for s in c.get("suggestions", [])]) for c in cards]

    assert comparable(fetched) == comparable(sent["cards"])


@pytest.fixture(scope="module")
def patient_service(fhir):
    """The service with a deadline long enough for the in-memory test server's searches over a
    long record on a loaded machine (the point here is what is fetched, not how fast)."""
    server = LiveServer(env={"CDS_AUTH_DISABLED": "true",
                             "CDS_FHIR_ALLOWED_SERVERS": fhir["records"].base,
                             "CDS_FHIR_READ_TIMEOUT": "30", "CDS_FHIR_DEADLINE": "40"},
                        workers=1)
    yield server
    server.stop()


@pytest.mark.parametrize("tag", sorted(EQUIVALENCE_CASES))
def test_narrow_prefetch_gives_the_same_cards_as_the_whole_record(patient_service, fhir, tag):
    service = patient_service
    records = fhir["records"]
    records.reset()
    request = _retag(EQUIVALENCE_CASES[tag], tag)
    whole = copy.deepcopy(request)
    whole["fhirServer"] = records.base
    whole.pop("fhirAuthorization", None)
    whole["prefetch"]["coverage"] = whole["prefetch"].get("coverage") or {
        "resourceType": "Bundle", "type": "searchset", "entry": []}
    narrow = copy.deepcopy(whole)
    narrow["prefetch"] = {}
    service_id = ("lbp-coding-order-sign" if request["hook"] == "order-sign" else DISCHARGE)

    def cards(body):
        response = requests.post(f"{service.url}/cds-services/{service_id}", json=body,
                                 timeout=60)
        assert response.status_code == 200, response.text[:300]
        return sorted((c["source"]["topic"]["code"], c["summary"], c["indicator"],
                       tuple(s["label"] for s in c.get("suggestions", [])))
                      for c in response.json()["cards"])

    expected = cards(whole)
    assert cards(narrow) == expected
    assert records.requests(), "the narrow keys were fetched"


def test_partial_prefetch_fetches_only_the_missing_keys(service, plain):
    response = call(service, hook_body(plain.base, ("patient", "encounter"),
                                       token=unique_token()))
    assert response.status_code == 200, response.text
    assert card_condition_ids(response) == {"c1"}
    assert sorted(plain.paths()) == ["Condition", "Condition", "Condition", "Coverage",
                                     "Procedure", "Procedure"]


def test_null_prefetch_is_not_fetched(service, plain):
    # CDS Hooks 2.0: null means the data does not exist, so there is nothing to fetch
    body = hook_body(plain.base, ("patient", "encounter", "conditions"), token=unique_token())
    body["prefetch"].update(procedures=None, coverage=None)
    response = call(service, body)
    assert response.status_code == 200, response.text
    assert plain.requests() == []


def test_paging_follows_next_links_to_the_last_page(service, fhir):
    paged = fhir["paged"]  # answers 2 a page, whatever _count asks
    paged.reset()
    response = call(service, hook_body(paged.base, ("patient", "encounter", "procedures",
                                                    "coverage"),
                                       token=unique_token(), patient="p2"))
    assert response.status_code == 200, response.text
    assert card_condition_ids(response) == {f"p2c{n}" for n in range(1, PAGED_CONDITIONS + 1)}
    condition_urls = [e["url"] for e in paged.requests()
                      if e["url"].startswith("/fhir/Condition?") and "encounter=" in e["url"]]
    assert len(condition_urls) == 4  # 7 Conditions of the encounter, 2 a page
    assert sum("_offset=" in url for url in condition_urls) == 3


def test_expired_token_is_412_for_required_data(service, fhir):
    server = fhir["token"]
    server.reset()
    response = call(service, hook_body(server.base, ("patient",), token="expired-token"))
    assert response.status_code == 412, response.text
    message = diagnostics(response)
    assert "encounter" in message and "conditions" in message
    assert "refused the access token (HTTP 401)" in message
    assert "expired-token" not in response.text
    assert server.requests(), "the service should have tried the FHIR server"
    assert "expired-token" not in service.log_text()


def test_valid_token_on_a_server_that_requires_one(service, fhir):
    server = fhir["token"]
    response = call(service, hook_body(server.base, ("patient",), token=TOKEN))
    assert response.status_code == 200, response.text
    assert card_condition_ids(response) == {"c1"}


def test_server_down_is_412(service, closed_port_base):
    response = call(service, hook_body(closed_port_base, ("patient",), token=unique_token()))
    assert response.status_code == 412, response.text
    assert "could not be reached" in diagnostics(response)
    assert "conditions" in diagnostics(response)


def test_slow_server_times_out_with_412(service, fhir):
    server = fhir["slow"]
    response = call(service, hook_body(server.base, FULL_PREFETCH.keys() - {"conditions"},
                                       token=unique_token()))
    assert response.status_code == 412, response.text
    message = diagnostics(response)
    assert "conditions" in message and "did not answer in time" in message
    # the three Condition keys, asked once each
    assert len(server.requests()) == 3


@pytest.mark.parametrize("alias", ["localhost", "elsewhere"])
def test_fhir_server_not_on_the_allow_list_is_412_and_never_called(service, fhir, alias):
    if alias == "localhost":  # the same server under another name is not the allowed base
        target, base = fhir["plain"], fhir["plain"].base.replace("127.0.0.1", "localhost")
    else:
        target = fhir["elsewhere"]
        base = target.base
    target.reset()
    response = call(service, hook_body(base, ("patient",), token=unique_token()))
    assert response.status_code == 412, response.text
    assert "not enabled" in diagnostics(response)
    assert target.requests() == []


def test_second_identical_call_is_served_from_the_cache(service, plain):
    token = unique_token()
    first = call(service, hook_body(plain.base, ("patient", "encounter"), token=token))
    assert first.status_code == 200, first.text
    assert len(plain.requests()) == 6
    plain.reset()
    second = call(service, hook_body(plain.base, ("patient", "encounter"), token=token))
    assert second.status_code == 200, second.text
    assert card_condition_ids(second) == card_condition_ids(first) == {"c1"}
    assert plain.requests() == []
    # another token is another principal: its data is fetched with its own token
    other = unique_token()
    third = call(service, hook_body(plain.base, ("patient", "encounter"), token=other))
    assert third.status_code == 200
    assert {e["authorization"] for e in plain.requests()} == {f"Bearer {other}"}


def test_optional_keys_that_fail_are_named_in_the_cards(service, fhir):
    server = fhir["faulty"]  # Coverage answers 500, Procedure an OperationOutcome
    response = call(service, hook_body(server.base, ("patient", "encounter"),
                                       token=unique_token()))
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    assert [c["source"]["topic"]["code"] for c in cards] == ["invalid-code"]
    assert ("Not available for this check: coverage, encounterProcedures, priorSpineSurgery."
            in cards[0]["detail"])


def test_token_never_follows_a_next_link_to_another_server(service, fhir):
    hostile, elsewhere = fhir["hostile"], fhir["elsewhere"]
    hostile.reset()
    elsewhere.reset()
    token = unique_token()
    response = call(service, hook_body(hostile.base, ("patient", "encounter"), token=token,
                                       patient="p2"))
    assert response.status_code == 412, response.text
    assert "links outside the fhirServer" in diagnostics(response)
    assert elsewhere.requests() == []
    # each Condition search asked for its first page only: no next link was followed
    assert all("_offset=" not in e["url"] for e in hostile.requests())


# -- FHIR servers that misbehave, behind the loopback proxy ---------------------------------


def _each_condition(change):
    def transform(relative: str, body: dict) -> dict:
        if relative.startswith("Condition?"):
            for entry in body.get("entry", []):
                change(entry["resource"])
        return body
    return transform


def test_a_fetched_resource_failing_its_model_is_missing_data_not_a_400(service, misbehaving):
    # an element FHIR R4 does not define, inside each fetched Condition: the client never sent
    # it, so it is data that could not be had (conditions is required: 412), never a 400
    misbehaving.transform = _each_condition(lambda c: c.update(unknownElement="x"))
    response = call(service, hook_body(misbehaving.base, ("patient", "encounter", "procedures",
                                                          "coverage"), token=unique_token()))
    assert response.status_code == 412, response.text
    message = diagnostics(response)
    assert "conditions" in message and "not usable" in message


def test_an_optional_fetched_key_failing_its_model_is_not_available(service, misbehaving):
    def coverage_with_an_unknown_element(relative: str, body: dict) -> dict:
        if relative.startswith("Coverage?"):
            body["entry"] = [{"resource": {
                "resourceType": "Coverage", "id": "cov1", "status": "active",
                "beneficiary": {"reference": "Patient/p1"},
                "payor": [{"display": "Medicare Part B"}], "unknownElement": "x"}}]
        return body

    misbehaving.transform = coverage_with_an_unknown_element
    response = call(service, hook_body(misbehaving.base, ("patient", "encounter", "conditions",
                                                          "procedures"), token=unique_token()))
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    assert "Not available for this check: coverage." in cards[0]["detail"]


def test_a_dripping_server_is_cut_off_at_the_deadline(service, misbehaving):
    # a byte every 0.2 s: its answers would take minutes; the service's deadline is 4 s
    misbehaving.drip = 0.2
    started = time.monotonic()
    response = call(service, hook_body(misbehaving.base, ("patient", "encounter"),
                                       token=unique_token()))
    assert response.status_code == 412, response.text
    assert "did not answer in time" in diagnostics(response)
    time.sleep(4 + 1 + 0.5 - (time.monotonic() - started))  # deadline, a second, a last drip
    assert misbehaving.drips, "the proxy should have answered"
    assert all(stopped is not None for _, stopped in misbehaving.drips), (
        "a fetch went on reading after the deadline")
    assert max(stopped - begun for begun, stopped in misbehaving.drips) < 4 + 1 + 0.5


def test_a_server_dripping_its_headers_is_cut_off_at_the_deadline(service, misbehaving):
    """The status line and headers too: every byte read is bounded by the call's deadline."""
    misbehaving.drip = 0.2
    misbehaving.drip_head = True
    started = time.monotonic()
    response = call(service, hook_body(misbehaving.base, ("patient", "encounter"),
                                       token=unique_token()))
    assert response.status_code == 412, response.text
    assert time.monotonic() - started < 4 + 1, "the call waited for the headers"
    time.sleep(max(0.0, 4 + 1 + 0.5 - (time.monotonic() - started)))  # and a last drip
    assert misbehaving.drips, "the proxy should have answered"
    assert all(stopped is not None for _, stopped in misbehaving.drips), (
        "a fetch went on reading headers after the deadline")
    assert max(stopped - begun for begun, stopped in misbehaving.drips) < 4 + 1 + 0.5


def test_a_stalled_server_does_not_starve_fetches_from_another(fhir, misbehaving):
    misbehaving.drip = 0.2
    plain = fhir["plain"]
    fetcher = FhirFetcher([misbehaving.base, plain.base], deadline=2, read_timeout=5,
                          max_workers=2)
    try:
        stalled = threading.Thread(target=fetcher.fetch_all, args=(
            misbehaving.base, None, {"a": "Patient/p1", "b": "Encounter/e1"}))
        stalled.start()
        while len(misbehaving.drips) < 2:
            time.sleep(0.05)  # both of the fetcher's two requests are on the stalled server
        result = fetcher.fetch_all(plain.base, None, {"patient": "Patient/p1"})
        assert not isinstance(result["patient"], FetchFailed), result
        assert result["patient"]["id"] == "p1"
        # and more fetches to the stalled server are refused at once, not queued
        busy = fetcher.fetch_all(misbehaving.base, None, {"c": "Patient/p1"})
        assert "in flight" in reason(busy["c"])
        stalled.join(timeout=10)
        assert not stalled.is_alive()
    finally:
        fetcher.close()


def test_a_percent_encoded_dot_segment_next_link_is_not_followed(service, misbehaving):
    def next_outside_the_base(relative: str, body: dict) -> dict:
        if relative.startswith("Condition?") and "_offset" not in relative:
            body["link"] = [{"relation": "next",
                             "url": f"{misbehaving.base}/%2e%2e/outside/Condition?page=2"}]
        return body

    misbehaving.transform = next_outside_the_base
    response = call(service, hook_body(misbehaving.base, ("patient", "encounter"),
                                       token=unique_token()))
    assert response.status_code == 412, response.text
    assert "links outside the fhirServer" in diagnostics(response)
    assert not [p for p in misbehaving.paths if "%2e" in p.lower() or "outside" in p]


@pytest.mark.parametrize(("url", "inside"), [
    ("http://h.test/fhir/Condition?page=2", True),
    ("http://h.test/fhir/%2e%2e/x", False),
    ("http://h.test/fhir/%2E%2E/x", False),
    ("http://h.test/fhir/%2e/Condition", False),
    ("http://h.test/fhir/.%2e/x", False),
    ("http://h.test/fhir/%252e%252e/x", False),
    ("http://h.test/fhir%2f..%2fx", False),
])
def test_next_links_are_decoded_before_the_base_path_check(url, inside):
    assert within_base(url, "http://h.test/fhir") is inside


def test_many_small_pages_are_read_to_the_end(fhir):
    # 26 Conditions on a server that answers 2 a page: 13 pages, more than the old page limit
    # (10), with the fetcher's defaults and the query discovery publishes
    paged = fhir["paged"]
    paged.reset()
    query = encounter_discharge.SERVICE.prefetch["encounterConditions"].replace(
        "{{context.patientId}}", "p4").replace("{{context.encounterId}}", "e4")
    result = fetch(paged, {"encounterConditions": query})
    assert [e["resource"]["id"] for e in result["encounterConditions"]["entry"]] == [
        f"p4c{n}" for n in range(1, MANY_CONDITIONS + 1)]
    searches = [e["url"] for e in paged.requests()]
    assert len(searches) == 13
    assert all("_count=" in url for url in searches)


def test_what_a_search_reads_is_bounded_by_resources(fhir):
    paged = fhir["paged"]
    result = fetch(paged, {"conditions": "Condition?patient=Patient/p4&_count=100"},
                   max_resources=10)
    assert reason(result["conditions"]) == "the search result has more than 10 resources"


def test_resources_of_another_patient_are_dropped_and_logged(service, misbehaving):
    def add_an_intruder(relative: str, body: dict) -> dict:
        if relative.startswith("Condition?") and body.get("entry"):
            intruder = copy.deepcopy(body["entry"][0]["resource"])
            intruder.update(id="intruder", subject={"reference": "Patient/someone-else"})
            body["entry"].append({"resource": intruder})
        return body

    misbehaving.transform = add_an_intruder
    response = call(service, hook_body(misbehaving.base, ("patient", "encounter"),
                                       token=unique_token()))
    assert response.status_code == 200, response.text
    assert card_condition_ids(response) == {"c1"}
    log = service.log_text()
    assert "of another patient than the one in context dropped" in log
    assert "someone-else" not in log and "intruder" not in log


def test_no_token_or_patient_data_in_the_service_log(service):
    log = service.log_text()
    assert TOKEN not in log
    assert "token-" not in log
    assert "Patient/p1" not in log and "M54.5" not in log


# -- the fetcher itself ---------------------------------------------------------------------


@pytest.mark.parametrize(("url", "normalized"), [
    ("https://ehr.example/fhir/R4", "https://ehr.example/fhir/R4"),
    ("HTTPS://EHR.Example:443/fhir/R4/", "https://ehr.example/fhir/R4"),
    ("http://127.0.0.1:8080/fhir", "http://127.0.0.1:8080/fhir"),
    ("http://127.0.0.1:80/", "http://127.0.0.1"),
    ("http://[::1]:8080/fhir", "http://[::1]:8080/fhir"),
    ("ftp://ehr.example/fhir", None),
    ("file:///etc/passwd", None),
    ("https://user:pw@ehr.example/fhir", None),
    ("https://ehr.example/fhir?x=1", None),
    ("https://ehr.example/fhir#frag", None),
    ("https://ehr.example/fhir/../admin", None),
    ("https://ehr.example:99999/fhir", None),
    ("https:///fhir", None),
    ("https://ehr.example/fh ir", None),
])
def test_normalize_base_url(url, normalized):
    assert normalize_base_url(url) == normalized


def test_allows_only_exact_bases():
    fetcher = FhirFetcher(["https://ehr.example/fhir/R4/"])
    assert fetcher.allows("https://ehr.example/fhir/R4")
    assert fetcher.allows("https://EHR.example:443/fhir/R4/")
    assert not fetcher.allows("https://ehr.example/fhir")
    assert not fetcher.allows("https://ehr.example/fhir/R4/admin")
    assert not fetcher.allows("http://ehr.example/fhir/R4")
    assert not fetcher.allows("https://ehr.example.evil.test/fhir/R4")
    assert not FhirFetcher([]).allows("https://ehr.example/fhir/R4")


def fetch(server: FhirTestServer, queries: dict[str, str], token: str | None = TOKEN,
          **options) -> dict:
    fetcher = FhirFetcher([server.base], **options)
    try:
        return fetcher.fetch_all(server.base, token, queries)
    finally:
        fetcher.close()


def reason(result) -> str:
    assert isinstance(result, FetchFailed), result
    return result.reason


def test_read_returns_the_resource_and_search_a_bundle(plain):
    result = fetch(plain, {"patient": "Patient/p1", "conditions": "Condition?patient=Patient/p1",
                           "coverage": "Coverage?patient=Patient/p1"})
    assert result["patient"]["resourceType"] == "Patient" and result["patient"]["id"] == "p1"
    assert [e["resource"]["id"] for e in result["conditions"]["entry"]] == ["c1"]
    # an empty search is data, not a failure
    assert result["coverage"]["resourceType"] == "Bundle"
    assert result["coverage"].get("entry", []) == []


def test_pages_are_merged_into_one_bundle(plain):
    result = fetch(plain, {"conditions": "Condition?patient=Patient/p2"})
    bundle = result["conditions"]
    assert [e["resource"]["id"] for e in bundle["entry"]] == [
        f"p2c{n}" for n in range(1, PAGED_CONDITIONS + 1)]
    assert "link" not in bundle


def test_more_pages_than_allowed_fail(plain):
    result = fetch(plain, {"conditions": "Condition?patient=Patient/p2"}, max_pages=2)
    assert reason(result["conditions"]) == "the search result has more than 2 pages"
    assert len(plain.requests()) == 2


def test_missing_resource_is_a_failure(plain):
    result = fetch(plain, {"encounter": "Encounter/does-not-exist"})
    assert reason(result["encounter"]) == "not found on the FHIR server (HTTP 404)"


def test_token_header_only_when_a_token_is_given(plain):
    fetch(plain, {"patient": "Patient/p1"}, token=None)
    fetch(plain, {"patient": "Patient/p2"}, token="abc")
    assert [e["authorization"] for e in plain.requests()] == [None, "Bearer abc"]


@pytest.mark.parametrize(("query", "expected"), [
    ("Coverage?patient=Patient/p1", "the FHIR server answered HTTP 500"),
    ("Procedure?patient=Patient/p1", "the FHIR server answered with an OperationOutcome"),
    ("Practitioner?name=x", "the FHIR server's answer is not valid JSON"),
    ("Observation?patient=Patient/p1",
     "the FHIR server redirected (HTTP 302); redirects are not followed"),
])
def test_bad_answers_are_failures(fhir, query, expected):
    server = fhir["faulty"]
    server.reset()
    assert reason(fetch(server, {"key": query})["key"]) == expected
    assert len(server.requests()) == 1  # a redirect is not followed


def test_answer_over_the_size_limit_fails(plain):
    result = fetch(plain, {"conditions": "Condition?patient=Patient/p2"},
                   max_response_bytes=2048)
    assert reason(result["conditions"]) == (
        "the FHIR server's answer is larger than the configured limit")


@pytest.mark.parametrize("query", [
    "Patient/../__admin/requests", "Patient/p1/../../x", "../x", "Patient/p1#x",
    "//evil.test/x", "Patient/p 1", "patient/p1", "Patient/p1/_history",
])
def test_queries_that_could_leave_the_base_are_not_sent(plain, query):
    assert reason(fetch(plain, {"key": query})["key"]) == "its query cannot be sent safely"
    assert plain.requests() == []


def test_not_allowed_server_is_not_called(fhir):
    server = fhir["elsewhere"]
    server.reset()
    fetcher = FhirFetcher([fhir["plain"].base])
    result = fetcher.fetch_all(server.base, TOKEN, {"patient": "Patient/p1"})
    assert reason(result["patient"]) == "fetching from this fhirServer is not enabled"
    assert server.requests() == []


def test_read_timeout(fhir):
    result = fetch(fhir["sluggish"], {"patient": "Patient/p1"}, read_timeout=0.2)
    assert reason(result["patient"]) == "the FHIR server did not answer in time"


def test_overall_deadline_bounds_a_call(fhir):
    result = fetch(fhir["sluggish"], {"patient": "Patient/p1"}, read_timeout=30, deadline=0.3)
    assert reason(result["patient"]) == "the FHIR server did not answer in time"


def test_independent_queries_run_concurrently(fhir):
    # five queries on a server that takes a second each: one after the other they would need
    # five seconds and overrun the deadline; in parallel they all arrive
    queries = {"patient": "Patient/p1", "encounter": "Encounter/e1",
               "conditions": "Condition?patient=Patient/p1",
               "procedures": "Procedure?patient=Patient/p1",
               "coverage": "Coverage?patient=Patient/p1"}
    result = fetch(fhir["sluggish"], queries, deadline=3.5)
    assert not [k for k, v in result.items() if isinstance(v, FetchFailed)], result


def test_cache_is_keyed_by_token_and_isolated_from_callers(plain):
    fetcher = FhirFetcher([plain.base])
    try:
        first = fetcher.fetch_all(plain.base, "t1", {"patient": "Patient/p1"})
        first["patient"]["gender"] = "changed by a caller"
        again = fetcher.fetch_all(plain.base, "t1", {"patient": "Patient/p1"})
        assert again["patient"]["gender"] == "female"
        assert len(plain.requests()) == 1
        fetcher.fetch_all(plain.base, "t2", {"patient": "Patient/p1"})
        fetcher.fetch_all(plain.base, None, {"patient": "Patient/p1"})
        assert len(plain.requests()) == 3
        # the raw token is not part of any cache key
        assert all("t1" not in repr(key) for key in fetcher._cache)
    finally:
        fetcher.close()


def test_cache_can_be_switched_off(plain):
    for _ in range(2):
        fetch(plain, {"patient": "Patient/p1"}, cache_ttl=0)
    assert len(plain.requests()) == 2


# -- settings -------------------------------------------------------------------------------


def test_settings_defaults_leave_fetching_off(monkeypatch):
    for name in list(os.environ):
        if name.startswith("CDS_FHIR_"):
            monkeypatch.delenv(name)
    settings = Settings.from_env()
    assert settings.fhir_allowed_servers == ()
    assert (settings.fhir_connect_timeout, settings.fhir_read_timeout) == (2.0, 5.0)


def test_settings_read_the_allow_list(monkeypatch):
    monkeypatch.setenv("CDS_FHIR_ALLOWED_SERVERS",
                       " https://EHR.example/fhir/R4/ , http://127.0.0.1:8080/fhir")
    monkeypatch.setenv("CDS_FHIR_READ_TIMEOUT", "1.5")
    settings = Settings.from_env()
    assert settings.fhir_allowed_servers == ("https://ehr.example/fhir/R4",
                                             "http://127.0.0.1:8080/fhir")
    assert settings.fhir_read_timeout == 1.5


@pytest.mark.parametrize(("name", "value", "message"), [
    ("CDS_FHIR_ALLOWED_SERVERS", "ftp://ehr.example/fhir",
     "CDS_FHIR_ALLOWED_SERVERS must be http(s) FHIR base URLs"),
    ("CDS_FHIR_ALLOWED_SERVERS", "https://ehr.example/fhir, https://ehr.example/fhir?tenant=1",
     "'https://ehr.example/fhir?tenant=1' is not one"),
    ("CDS_FHIR_CONNECT_TIMEOUT", "soon", "CDS_FHIR_CONNECT_TIMEOUT must be a number"),
    ("CDS_FHIR_READ_TIMEOUT", "0", "CDS_FHIR_READ_TIMEOUT must be at least"),
    ("CDS_FHIR_DEADLINE", "-3", "CDS_FHIR_DEADLINE must be at least"),
    ("CDS_FHIR_MAX_PAGES", "0", "CDS_FHIR_MAX_PAGES must be at least 1"),
    ("CDS_FHIR_MAX_RESPONSE_BYTES", "10", "CDS_FHIR_MAX_RESPONSE_BYTES must be at least 1024"),
    ("CDS_FHIR_CACHE_TTL", "-1", "CDS_FHIR_CACHE_TTL must be at least 0"),
    ("CDS_FHIR_CACHE_SIZE", "many", "CDS_FHIR_CACHE_SIZE must be a whole number"),
])
def test_settings_errors_name_the_variable(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        Settings.from_env()
    assert message in str(error.value)

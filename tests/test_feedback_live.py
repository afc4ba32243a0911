"""Feedback and analytics through the real server (2 gunicorn workers) on SQLite and on the real
PostgreSQL: cards survive a restart, validation and idempotency over HTTP, the numbers of
GET /analytics/rules and of `cds-service report`, concurrent feedback from many threads, the
client authentication of /analytics/rules, `cds-service db upgrade` from the installed wheel."""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import subprocess
import threading
import tomllib
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
import requests

from cds_service.store.engine import head_revision
from tests.auth_support import claims, mint
from tests.db_support import BACKENDS, databases_fixture
from tests.support.examples import FIXTURES, load_example
from tests.support.live_server import LiveServer, cds_command

DISCHARGE = "lbp-coding-encounter-discharge"
REASONS = "https://lbp-coding.example.org/fhir/CodeSystem/override-reasons"


@pytest.fixture(scope="module")
def databases(tmp_path_factory):
    yield from databases_fixture(tmp_path_factory)


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request, databases):
    """A database and the real server on it (2 workers)."""
    database = databases.make(request.param)
    server = LiveServer(env=database.env, workers=2)
    yield database, server
    server.stop()


def hook_call(server) -> list[dict]:
    body = copy.deepcopy(load_example("retired-m545")["request"])
    body["hookInstance"] = str(uuid.uuid4())
    response = requests.post(f"{server.url}/cds-services/{DISCHARGE}", json=body, timeout=30)
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    assert cards
    return cards


def invalid_code_card(server) -> dict:
    return next(c for c in hook_call(server) if c["source"]["topic"]["code"] == "invalid-code")


def post_feedback(server, *items, timeout=30, session=None):
    return (session or requests).post(f"{server.url}/cds-services/{DISCHARGE}/feedback",
                                      json={"feedback": list(items)}, timeout=timeout)


def accepted(card, at="2026-11-20T10:00:00Z", index=0) -> dict:
    return {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": at,
            "acceptedSuggestions": [{"id": card["suggestions"][index]["uuid"]}]}


def overridden(card, code=None, at="2026-11-20T10:00:00Z") -> dict:
    item = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": at}
    if code:
        item["overrideReason"] = {"reason": {"system": REASONS, "code": code},
                                  "userComment": "checked with the payer"}
    return item


def stored_for(database, *cards) -> int:
    ids = [c["uuid"] for c in cards]
    params = {f"c{i}": card_id for i, card_id in enumerate(ids)}
    marks = ", ".join(f":c{i}" for i in range(len(ids)))
    return database.scalar(f"SELECT count(*) FROM cds_feedback WHERE card_uuid IN ({marks})",
                           **params)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def rules_report(server, since: str | None = None, **kwargs) -> dict:
    response = requests.get(f"{server.url}/analytics/rules",
                            params={"since": since} if since else None, timeout=30, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def rule(report: dict, rule_id: str = "invalid-code") -> dict:
    return next(r for r in report["rules"] if r["ruleId"] == rule_id)


# -- persistence and sharing ------------------------------------------------------------


def test_a_card_issued_by_one_server_gets_feedback_through_another(backend):
    """The in-memory store forgot every card on restart and knew only its own process's;
    a server started later on the same database (a restart, or another replica) knows it."""
    database, first = backend
    card = invalid_code_card(first)
    second = LiveServer(env=database.env, workers=1)
    try:
        response = post_feedback(second, accepted(card))
        assert response.status_code == 200, response.text
        assert response.json() == {"received": 1, "stored": 1}
    finally:
        second.stop()
    row = database.rows("SELECT hook, rule_id, indicator, service_id, hook_instance "
                        "FROM cds_cards WHERE card_uuid = :c", c=card["uuid"])
    assert row[0][:4] == ("encounter-discharge", "invalid-code", card["indicator"], DISCHARGE)
    assert uuid.UUID(row[0][4])
    suggestions = {r[0] for r in database.rows(
        "SELECT suggestion_uuid FROM cds_card_suggestions WHERE card_uuid = :c", c=card["uuid"])}
    assert suggestions == {s["uuid"] for s in card["suggestions"]}


# -- validation and idempotency over HTTP -----------------------------------------------------


def test_bad_feedback_is_400_and_nothing_of_the_request_is_stored(backend):
    database, server = backend
    card, other = invalid_code_card(server), invalid_code_card(server)
    foreign = accepted(card)
    foreign["acceptedSuggestions"] = [{"id": other["suggestions"][0]["uuid"]}]
    bad_requests = [
        ([accepted(card), {**accepted(card), "card": str(uuid.uuid4())}], "feedback[1].card"),
        ([accepted(other), foreign], "feedback[1].acceptedSuggestions"),
        ([accepted(card), {**accepted(card), "outcome": "dismissed"}], "feedback[1].outcome"),
    ]
    for items, field in bad_requests:
        response = post_feedback(server, *items)
        assert response.status_code == 400, response.text
        assert response.json()["issue"][0]["expression"] == [field]
    assert stored_for(database, card, other) == 0


def test_duplicate_feedback_is_stored_once(backend):
    database, server = backend
    card = invalid_code_card(server)
    item = overridden(card, "payer-accepts-code")
    assert post_feedback(server, item, item).json() == {"received": 2, "stored": 1}
    assert post_feedback(server, item).json() == {"received": 1, "stored": 0}
    assert stored_for(database, card) == 1


# -- the numbers ------------------------------------------------------------------------------


def test_analytics_rules_and_the_report_command_agree_on_the_numbers(backend, tmp_path):
    database, server = backend
    since = now_iso()  # only the cards of this test
    cards = [invalid_code_card(server) for _ in range(5)]
    assert post_feedback(
        server, accepted(cards[0]), accepted(cards[1], index=1),
        overridden(cards[2], "payer-accepts-code"), overridden(cards[3], "payer-accepts-code"),
        overridden(cards[4], "corrected-elsewhere", at="2026-11-20T09:00:00Z"),
        accepted(cards[4], at="2026-11-20T09:30:00Z"),  # changed their mind: accepted
    ).status_code == 200
    extra = invalid_code_card(server)  # shown, no feedback
    assert extra

    report = rules_report(server, since)
    numbers = rule(report)
    assert {k: numbers[k] for k in ("shown", "accepted", "overridden", "noFeedback",
                                    "acceptanceRate")} == {
        "shown": 6, "accepted": 3, "overridden": 2, "noFeedback": 1, "acceptanceRate": 0.6}
    assert numbers["topOverrideReasons"] == [{
        "system": REASONS, "code": "payer-accepts-code",
        "display": "Payer's own code set accepts this code for this date", "count": 2}]
    assert "checked with the payer" not in json.dumps(report)  # comments are never reported

    env = {**database.env, "CDS_LOG_LEVEL": "warning"}
    command = [*cds_command(), "report", "--since", since]

    def report_command(*options: str) -> str:
        result = subprocess.run([*command, *options], capture_output=True, text=True,
                                timeout=120, cwd=tmp_path, env={**_base_env(), **env})
        assert result.returncode == 0, result.stderr
        return result.stdout

    printed = json.loads(report_command("--format", "json"))
    assert printed["rules"] == report["rules"]
    assert printed["totals"] == report["totals"]
    rows = {row["rule_id"]: row for row in csv.DictReader(io.StringIO(
        report_command("--format", "csv")))}
    reasons = 'payer-accepts-code "Payer\'s own code set accepts this code for this date" (2)'
    card_file = FIXTURES.parent.parent / "cards" / "invalid-code.toml"
    title = tomllib.loads(card_file.read_text())["title"]
    assert rows["invalid-code"] == {
        "rule_id": "invalid-code", "title": title, "shown": "6", "accepted": "3",
        "overridden": "2", "no_feedback": "1", "acceptance_rate": "0.6",
        "top_override_reasons": reasons}
    table = report_command()
    line = next(x for x in table.splitlines() if x.startswith("invalid-code"))
    # columns are two or more spaces apart; a title or a reason has single spaces
    assert re.split(r"\s{2,}", line.strip()) == ["invalid-code", title, "6", "3", "2", "1",
                                                 "60.0%", reasons]


def test_since_must_be_a_date(backend):
    _, server = backend
    response = requests.get(f"{server.url}/analytics/rules", params={"since": "last week"},
                            timeout=30)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["since"]


# -- concurrency ------------------------------------------------------------------------------


def test_many_feedback_posts_at_once_lose_nothing_and_double_nothing(backend):
    """8 threads post 96 feedback requests at once to 2 workers: every distinct item is stored
    exactly once, and the responses' ``stored`` counts add up to exactly that."""
    database, server = backend
    cards = [invalid_code_card(server) for _ in range(12)]
    distinct = []
    for card in cards:
        distinct.append(accepted(card, at="2026-11-21T08:00:00Z"))
        distinct.append(overridden(card, "corrected-elsewhere", at="2026-11-21T08:05:00Z"))
    posts = [[item] for item in distinct] * 3  # each item three times, alone
    posts += [[a, b] for a, b in zip(distinct[::2], distinct[1::2], strict=True)]  # and paired
    threads = 8
    barrier = threading.Barrier(threads)
    results: list[tuple[int, int]] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        session = requests.Session()
        barrier.wait(timeout=60)
        for body in posts[index::threads]:
            response = post_feedback(server, *body, timeout=60, session=session)
            with lock:
                results.append((response.status_code,
                                response.json().get("stored", -1) if response.ok else -1))

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=300)
    assert len(results) == len(posts)
    assert Counter(status for status, _ in results) == {200: len(posts)}
    assert sum(stored for _, stored in results) == len(distinct)
    assert stored_for(database, *cards) == len(distinct)
    keys = database.scalar("SELECT count(DISTINCT dedup_key) FROM cds_feedback")
    assert keys == database.scalar("SELECT count(*) FROM cds_feedback")


# -- authentication ---------------------------------------------------------------------------


def test_analytics_rules_needs_a_client_token_when_auth_is_on(auth_live_server, jwks_server):
    url = f"{auth_live_server.url}/analytics/rules"
    refused = requests.get(url, timeout=30)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    hook_token = mint(jwks_server.keys["ec"],
                      claims(f"{auth_live_server.url}/cds-services/{DISCHARGE}"))
    assert requests.get(url, headers={"Authorization": f"Bearer {hook_token}"},
                        timeout=30).status_code == 401  # a token for another endpoint
    token = mint(jwks_server.keys["ec"], claims(url))
    response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 200, response.text
    assert "invalid-code" in {r["ruleId"] for r in response.json()["rules"]}
    # the page holds no data and stays open; its script meets the 401 and says so
    page = requests.get(f"{auth_live_server.url}/analytics", timeout=30)
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_analytics_rules_in_process_with_auth_on(auth_app):
    response = auth_app.test_client().get("/analytics/rules")
    assert response.status_code == 401


# -- migrations from the installed wheel ------------------------------------------------------


def test_db_upgrade_and_report_from_the_installed_wheel_in_any_directory(wheel_venv, tmp_path):
    """No CDS_DATA_DIR: the database goes to $HOME/.local/share/cds-service whatever the
    working directory, and the migrations ship in the wheel."""
    home, elsewhere = tmp_path / "home", tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
    command = str(wheel_venv / "bin" / "cds-service")
    upgraded = subprocess.run([command, "db", "upgrade"], cwd=elsewhere, capture_output=True,
                              text=True, timeout=120, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    database = home / ".local" / "share" / "cds-service" / "cds-service.db"
    assert f"revision {head_revision()}: SQLite file {database}" in upgraded.stdout
    assert database.exists() and not list(elsewhere.iterdir())
    report = subprocess.run([command, "report", "--format", "json"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, env=env)
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["totals"]["shown"] == 0


def _base_env() -> dict[str, str]:
    import os

    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return {k: os.environ[k] for k in keep if k in os.environ}

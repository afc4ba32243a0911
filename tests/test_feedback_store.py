"""The SQL feedback store (cds_service/store) on a real SQLite file and on the real PostgreSQL
server: validation, idempotency, one transaction per request (an exception and a process crash
mid-request), migrations from an empty database, the patient hash, the per-rule report."""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from cds_service.cards import CardRenderer
from cds_service.errors import CdsError
from cds_service.feedback import parse_feedback
from cds_service.settings import Settings
from cds_service.store.engine import head_revision, run_migrations
from cds_service.store.errors import StoreError
from cds_service.store.feedback_store import SqlFeedbackStore, create_feedback_store
from cds_service.store.keys import KEY_FILE
from cds_service.store.report import rule_report
from tests.db_support import BACKENDS, PATIENT_HASH_KEY, databases_fixture

SERVICE = "lbp-coding-encounter-discharge"
HOOK = "encounter-discharge"
REASONS = "https://lbp-coding.example.org/fhir/CodeSystem/override-reasons"


@pytest.fixture(scope="module")
def databases(tmp_path_factory):
    yield from databases_fixture(tmp_path_factory)


@pytest.fixture(params=BACKENDS)
def database(request, databases):
    return databases.make(request.param)


@pytest.fixture()
def store(database):
    store = SqlFeedbackStore(database.url,
                             PATIENT_HASH_KEY if database.backend == "postgresql" else None)
    store.prepare()
    yield store
    store.close()


def make_card(rule_id="invalid-code", suggestions=2) -> dict:
    return {"uuid": str(uuid.uuid4()), "indicator": "critical",
            "source": {"topic": {"code": rule_id}},
            "suggestions": [{"uuid": str(uuid.uuid4()), "label": "x"} for _ in range(suggestions)]}


def issue(store, *cards, patient="patient-7", service=SERVICE) -> None:
    store.record_cards(service, list(cards), hook=HOOK, hook_instance=str(uuid.uuid4()),
                       patient_id=patient)


def item(card, outcome="accepted", at="2026-11-20T10:00:00Z", suggestion=0, reason=None,
         comment=None) -> dict:
    entry = {"card": card["uuid"], "outcome": outcome, "outcomeTimestamp": at}
    if outcome == "accepted" and suggestion is not None:
        entry["acceptedSuggestions"] = [{"id": card["suggestions"][suggestion]["uuid"]}]
    if outcome == "overridden" and (reason or comment):
        entry["overrideReason"] = {}
        if reason:
            entry["overrideReason"]["reason"] = {"system": REASONS, "code": reason}
        if comment:
            entry["overrideReason"]["userComment"] = comment
    return entry


def send(store, *entries, service=SERVICE) -> int:
    return store.record_feedback(service, parse_feedback({"feedback": list(entries)}))


def feedback_rows(database) -> int:
    return database.scalar("SELECT count(*) FROM cds_feedback")


# -- migrations -------------------------------------------------------------------------------


def test_upgrade_from_an_empty_database_creates_the_schema(database):
    store = SqlFeedbackStore(database.url, PATIENT_HASH_KEY)
    assert store.prepare() == head_revision() == "0004"
    tables = {"cds_cards", "cds_card_suggestions", "cds_feedback", "cds_seen_tokens",
              "cds_alembic_version"}
    if database.backend == "sqlite":
        names = {r[0] for r in database.rows("SELECT name FROM sqlite_master WHERE type='table'")}
        assert database.scalar("PRAGMA journal_mode") == "wal"
    else:
        names = {r[0] for r in database.rows(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = "
            "current_schema()")}
    assert tables <= names
    assert database.rows("SELECT version_num FROM cds_alembic_version") == [("0004",)]
    # a second start-up finds nothing to do and keeps the data
    card = make_card()
    issue(store, card)
    store.close()
    again = SqlFeedbackStore(database.url, PATIENT_HASH_KEY)
    assert again.prepare() == "0004"
    assert database.scalar("SELECT count(*) FROM cds_cards") == 1
    again.close()


def test_processes_starting_together_migrate_once(database, tmp_path):
    """Four processes upgrade the same empty database at once: all succeed, one version row."""
    script = textwrap.dedent(f"""
        import sys
        from cds_service.store.feedback_store import SqlFeedbackStore
        print(SqlFeedbackStore({database.url!r}, {PATIENT_HASH_KEY!r}).prepare())
    """)
    processes = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, cwd=tmp_path)
                 for _ in range(4)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in processes]
    for out, err, code in results:
        assert code == 0, err
        assert out.strip() == "0004"
    assert database.rows("SELECT version_num FROM cds_alembic_version") == [("0004",)]


def test_migrations_lock_is_released_after_an_upgrade(database):
    store = SqlFeedbackStore(database.url, PATIENT_HASH_KEY)
    store.prepare()
    engine = store._get_engine()
    assert run_migrations(engine) == "0004"  # would block (SQLite) or deadlock if still held
    store.close()


# -- validation -------------------------------------------------------------------------------


def test_feedback_for_an_unknown_card_is_refused_and_nothing_is_stored(store, database):
    card = make_card()
    issue(store, card)
    with pytest.raises(CdsError) as refused:
        send(store, item(card), {**item(card, at="2026-11-21T10:00:00Z"),
                                 "card": str(uuid.uuid4())})
    assert refused.value.status == 400
    assert "feedback[1].card is not a card this service issued" in refused.value.message
    assert feedback_rows(database) == 0


def test_a_suggestion_from_another_card_is_refused_and_nothing_is_stored(store, database):
    card, other = make_card(), make_card()
    issue(store, card, other)
    foreign = item(card)
    foreign["acceptedSuggestions"] = [{"id": other["suggestions"][0]["uuid"]}]
    with pytest.raises(CdsError) as refused:
        send(store, item(other), foreign)
    assert refused.value.status == 400
    assert refused.value.field == "feedback[1].acceptedSuggestions"
    assert feedback_rows(database) == 0


def test_a_card_of_another_service_is_refused(store, database):
    card = make_card()
    issue(store, card, service="lbp-coding-order-sign")
    with pytest.raises(CdsError) as refused:
        send(store, item(card))
    assert refused.value.status == 400
    assert feedback_rows(database) == 0


def test_an_outcome_outside_the_spec_never_reaches_the_store(store, database):
    card = make_card()
    issue(store, card)
    with pytest.raises(CdsError) as refused:
        send(store, item(card), {**item(card), "outcome": "ignored"})
    assert refused.value.status == 400
    assert feedback_rows(database) == 0


# -- idempotency ------------------------------------------------------------------------------


def test_a_duplicate_item_is_stored_once(store, database):
    card = make_card()
    issue(store, card)
    accepted = item(card)
    assert send(store, accepted, accepted) == 1  # twice in one request
    assert send(store, accepted) == 0  # and again later
    same_instant = {**accepted, "outcomeTimestamp": "2026-11-20T10:00:00+00:00"}
    assert send(store, same_instant) == 0  # the same instant, written another way
    assert send(store, item(card, at="2026-11-20T10:05:00Z")) == 1  # a new decision
    assert feedback_rows(database) == 2
    stored = store.feedback_for(card["uuid"])
    assert [f.outcome_timestamp for f in stored] == ["2026-11-20T10:00:00+00:00",
                                                     "2026-11-20T10:05:00+00:00"]
    assert stored[0].accepted_suggestions == (card["suggestions"][0]["uuid"],)


def test_every_field_of_a_feedback_item_is_kept(store, database):
    card = make_card()
    issue(store, card)
    send(store, item(card, "overridden", reason="payer-accepts-code", comment="payer said so"))
    row = database.rows("SELECT outcome, override_reason_system, override_reason_code, "
                        "override_comment, card_uuid, service_id FROM cds_feedback")
    assert row == [("overridden", REASONS, "payer-accepts-code", "payer said so", card["uuid"],
                    SERVICE)]


# -- one transaction per request --------------------------------------------------------------


def test_a_failure_mid_request_leaves_no_row(store, database, monkeypatch):
    cards = [make_card() for _ in range(3)]
    issue(store, *cards)
    calls = []
    original = SqlFeedbackStore._insert_feedback_row

    def fail_on_the_second(self, connection, insert, row):
        calls.append(row["card_uuid"])
        if len(calls) == 2:
            raise RuntimeError("simulated failure after the first row was written")
        return original(self, connection, insert, row)

    monkeypatch.setattr(SqlFeedbackStore, "_insert_feedback_row", fail_on_the_second)
    with pytest.raises(RuntimeError):
        send(store, *(item(c) for c in cards))
    assert len(calls) == 2
    assert feedback_rows(database) == 0
    monkeypatch.undo()
    assert send(store, *(item(c) for c in cards)) == 3  # the store is fine afterwards


def test_cards_that_cannot_all_be_stored_are_a_503_and_none_is_stored(store, database):
    """The cards of a hook call are committed together or not at all: a failure on the second
    table (here a trigger refusing suggestions) stores no card, and the store recovers."""
    if database.backend == "sqlite":
        database.execute("CREATE TRIGGER refuse_suggestions BEFORE INSERT ON "
                         "cds_card_suggestions BEGIN SELECT RAISE(ABORT, 'refused'); END")
        drop = "DROP TRIGGER refuse_suggestions"
    else:
        database.execute("CREATE FUNCTION refuse_suggestions() RETURNS trigger AS $$ BEGIN "
                         "RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql")
        database.execute("CREATE TRIGGER refuse_suggestions BEFORE INSERT ON "
                         "cds_card_suggestions FOR EACH ROW EXECUTE FUNCTION "
                         "refuse_suggestions()")
        drop = "DROP TRIGGER refuse_suggestions ON cds_card_suggestions"
    cards = [make_card(), make_card()]
    with pytest.raises(CdsError) as unavailable:
        issue(store, *cards)
    assert unavailable.value.status == 503
    assert database.scalar("SELECT count(*) FROM cds_cards") == 0
    database.execute(drop)
    issue(store, *cards)
    assert database.scalar("SELECT count(*) FROM cds_cards") == 2
    assert database.scalar("SELECT count(*) FROM cds_card_suggestions") == 4
    assert send(store, item(cards[0]), item(cards[1], suggestion=1)) == 2


def test_a_card_is_stored_with_the_instant_it_was_issued(store, database):
    """The report's 'since' compares the stored instant: a card issued now is counted since a
    minute ago and not since a minute ahead, whichever path wrote it."""
    issue(store, make_card("rule-t"))
    now = datetime.now(UTC)
    [before] = store.rule_report(since=now - timedelta(minutes=1))
    assert (before.rule_id, before.shown) == ("rule-t", 1)
    assert store.rule_report(since=now + timedelta(minutes=1)) == []


def test_a_process_crash_mid_request_leaves_no_row(store, database, tmp_path):
    """A process dies (os._exit, no clean-up) after writing the first of three rows: the
    database keeps none of them, and the next writer is not blocked."""
    cards = [make_card() for _ in range(3)]
    issue(store, *cards)
    entries = [item(c) for c in cards]
    script = textwrap.dedent(f"""
        import os
        from cds_service.feedback import parse_feedback
        from cds_service.store.feedback_store import SqlFeedbackStore
        calls = []
        original = SqlFeedbackStore._insert_feedback_row
        def crash_on_the_second(self, connection, insert, row):
            calls.append(1)
            if len(calls) == 2:
                os._exit(17)
            return original(self, connection, insert, row)
        SqlFeedbackStore._insert_feedback_row = crash_on_the_second
        store = SqlFeedbackStore({database.url!r}, {PATIENT_HASH_KEY!r})
        store.record_feedback({SERVICE!r}, parse_feedback({{"feedback": {entries!r}}}))
    """)
    crashed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             timeout=120, cwd=tmp_path)
    assert crashed.returncode == 17, crashed.stderr
    assert feedback_rows(database) == 0
    assert send(store, *entries) == 3
    assert feedback_rows(database) == 3


# -- the patient, hashed ----------------------------------------------------------------------


def test_the_patient_is_stored_only_as_a_keyed_hash(store, database):
    patient = "patient-id-in-clear-" + uuid.uuid4().hex
    issue(store, make_card(), patient=patient)
    store.close()
    stored = database.scalar("SELECT patient_hash FROM cds_cards")
    if database.backend == "sqlite":
        key = (database.sqlite_path.parent / KEY_FILE).read_text().strip().encode()
        raw = b"".join(p.read_bytes() for p in database.sqlite_path.parent.glob("*.db*"))
        assert patient.encode() not in raw
        assert (database.sqlite_path.parent / KEY_FILE).stat().st_mode & 0o077 == 0
        assert database.sqlite_path.stat().st_mode & 0o077 == 0
    else:
        key = PATIENT_HASH_KEY.encode()
        dump = repr(database.rows("SELECT * FROM cds_cards"))
        assert patient not in dump
    assert stored == hmac.new(key, patient.encode(), hashlib.sha256).hexdigest()


def test_a_generated_key_is_kept_beside_the_sqlite_file(databases):
    database = databases.sqlite()
    first = SqlFeedbackStore(database.url)
    first.prepare()
    hashed = first.patient_hash("p1")
    first.close()
    second = SqlFeedbackStore(database.url)
    second.prepare()
    assert second.patient_hash("p1") == hashed  # the same key after a restart
    configured = SqlFeedbackStore(database.url, PATIENT_HASH_KEY)
    configured.prepare()
    assert configured.patient_hash("p1") != hashed  # CDS_PATIENT_HASH_KEY wins


def test_postgresql_needs_a_configured_key(databases):
    database = databases.postgresql()
    with pytest.raises(StoreError, match="CDS_PATIENT_HASH_KEY must be set"):
        SqlFeedbackStore(database.url).prepare()


# -- default location -------------------------------------------------------------------------


def test_the_default_database_lives_in_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.load(environ={"CDS_DATA_DIR": str(tmp_path / "data")})
    assert create_feedback_store(settings).sqlite_path == tmp_path / "data" / "cds-service.db"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    default = create_feedback_store(Settings.load(environ={}))
    assert default.sqlite_path == tmp_path / "xdg" / "cds-service" / "cds-service.db"
    relative = create_feedback_store(Settings.load(environ={"CDS_DATA_DIR": "rel"}))
    assert relative.sqlite_path == Path(tmp_path / "rel" / "cds-service.db")  # made absolute


def test_an_unusable_database_is_a_clear_start_up_error(tmp_path):
    store = SqlFeedbackStore("postgresql+psycopg://cds:secret-pw@127.0.0.1:1/none",
                             PATIENT_HASH_KEY)
    with pytest.raises(StoreError) as error:
        store.prepare()
    assert "cannot open the feedback database" in str(error.value)
    assert "secret-pw" not in str(error.value)
    # during a request the same failure is a 503, not a 500
    with pytest.raises(CdsError) as unavailable:
        store.record_feedback(SERVICE, parse_feedback({"feedback": [
            {"card": str(uuid.uuid4()), "outcome": "accepted",
             "outcomeTimestamp": "2026-11-20T10:00:00Z"}]}))
    assert unavailable.value.status == 503


# -- the report -------------------------------------------------------------------------------


def test_rule_report_counts_each_card_once_by_its_latest_outcome(store, database):
    a1, a2, a3, a4 = (make_card("rule-a") for _ in range(4))
    b1, b2 = make_card("rule-b"), make_card("rule-b")
    issue(store, a1, a2, a3, a4, b1, b2)
    send(store, item(a1), item(a2, "overridden", reason="r1"),
         item(a3, "overridden", reason="r2", at="2026-11-20T10:00:00Z"),
         item(a3, at="2026-11-20T11:00:00Z"),  # changed their mind: accepted in the end
         item(b1, "overridden", reason="r2"), item(b2, "overridden", suggestion=None))
    rules = {r.rule_id: r for r in store.rule_report()}
    a, b = rules["rule-a"], rules["rule-b"]
    assert (a.shown, a.accepted, a.overridden, a.no_feedback) == (4, 2, 1, 1)
    assert a.acceptance_rate == pytest.approx(0.6667)
    assert [(r.code, r.count) for r in a.top_override_reasons] == [("r1", 1)]
    assert (b.shown, b.accepted, b.overridden, b.acceptance_rate) == (2, 0, 2, 0.0)
    assert [(r.code, r.count) for r in b.top_override_reasons] == [("r2", 1), (None, 1)]

    # --since counts the cards shown from then on
    database.execute("UPDATE cds_cards SET issued_at = :old WHERE card_uuid IN (:x, :y)",
                     old="2020-01-01 00:00:00", x=a1["uuid"], y=a2["uuid"])
    from cds_service.store.report import parse_since

    recent = {r.rule_id: r for r in store.rule_report(parse_since("2021-01-01"))}
    assert (recent["rule-a"].shown, recent["rule-a"].accepted,
            recent["rule-a"].overridden) == (2, 1, 0)
    assert recent["rule-a"].top_override_reasons == []


def test_report_lists_every_rule_and_names_our_reasons(store):
    card = make_card("invalid-code")
    issue(store, card)
    send(store, item(card, "overridden", reason="payer-accepts-code"))
    report = rule_report(store, None, CardRenderer())
    by_id = {r["ruleId"]: r for r in report["rules"]}
    assert by_id["invalid-code"]["topOverrideReasons"] == [{
        "system": REASONS, "code": "payer-accepts-code",
        "display": "Payer's own code set accepts this code for this date", "count": 1}]
    assert by_id["invalid-code"]["title"]
    from cds_service.rules._registry import RULES

    assert {rule.id for rule in RULES} <= set(by_id)  # rules never shown are listed with 0
    assert report["rules"][0]["ruleId"] == "invalid-code"  # the most overridden first
    assert report["totals"] == {"shown": 1, "accepted": 0, "overridden": 1, "noFeedback": 0,
                                "acceptanceRate": 0.0}


# -- client tokens seen (jti replay) ------------------------------------------------------------


def test_a_token_is_remembered_once_until_it_expires(database):
    from datetime import UTC, datetime, timedelta

    store = SqlFeedbackStore(database.url, PATIENT_HASH_KEY)
    store.prepare()
    later = datetime.now(UTC) + timedelta(minutes=10)
    assert store.remember_token("a" * 64, later) is True
    assert store.remember_token("a" * 64, later) is False  # a replay
    assert store.remember_token("b" * 64, later) is True
    # an expired entry is swept, so the key may be used again (its token has expired anyway)
    assert store.remember_token("c" * 64, datetime.now(UTC) - timedelta(seconds=1)) is True
    assert store.remember_token("c" * 64, later) is True
    assert database.scalar("SELECT count(*) FROM cds_seen_tokens") == 3
    store.close()



# -- SQLite: the per-call writes and their checkpoints -----------------------------------------


def _in_main_file(database, card) -> bool:
    """Whether the card's row has reached the database file itself (checkpointed from the WAL)."""
    return card["uuid"].encode() in database.sqlite_path.read_bytes()


def test_a_hook_calls_write_never_checkpoints_the_wal_itself(databases, monkeypatch):
    from cds_service.store import sqlite_hot

    monkeypatch.setattr(sqlite_hot, "CHECKPOINT_SECONDS", 3600)  # the background thread waits
    database = databases.sqlite()
    store = SqlFeedbackStore(database.url)
    store.prepare()
    cards = [make_card() for _ in range(400)]  # far past SQLite's 1000-page autocheckpoint
    for card in cards:
        issue(store, card)
    assert not any(_in_main_file(database, card) for card in cards)
    assert database.scalar("SELECT count(*) FROM cds_cards") == 400  # committed, in the WAL
    store.close()


def test_the_wal_is_checkpointed_beside_the_requests(databases, monkeypatch):
    from cds_service.store import sqlite_hot

    monkeypatch.setattr(sqlite_hot, "CHECKPOINT_SECONDS", 0.05)
    monkeypatch.setattr(sqlite_hot, "WAL_RESTART_PAGES", 8)
    database = databases.sqlite()
    store = SqlFeedbackStore(database.url)
    store.prepare()
    cards = [make_card() for _ in range(200)]
    for card in cards:
        issue(store, card)
    deadline = time.monotonic() + 10
    while not all(_in_main_file(database, c) for c in (cards[0], cards[-1])):
        assert time.monotonic() < deadline, "the background checkpoint did not run"
        time.sleep(0.05)
    # under a steady load a PASSIVE checkpoint rarely finds the WAL idle, so the WAL would only
    # grow; it is started over once it passes WAL_RESTART_PAGES
    written, started = 0, time.monotonic()
    while time.monotonic() - started < 2:
        issue(store, make_card(suggestions=5))  # 3 pages or more each
        written += 1
    assert written > 300
    with sqlite3.connect(database.sqlite_path) as connection:
        _busy, frames_since_restart, _ = connection.execute(
            "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert frames_since_restart < written, (written, frames_since_restart)
    store.close()


# -- PostgreSQL: the per-call writes on a kept connection --------------------------------------


def test_a_kept_connection_the_server_closed_is_replaced_without_losing_the_call(databases):
    database = databases.postgresql()
    store = SqlFeedbackStore(database.url, PATIENT_HASH_KEY)
    store.prepare()
    first, second = make_card(), make_card()
    issue(store, first)
    backend = store._hot_path._connection.info.backend_pid
    # what a server restart or an idle timeout does to a kept connection
    database.scalar("SELECT pg_terminate_backend(:pid)", pid=backend)
    issue(store, second)  # no 503: the dead connection is found out and replaced
    assert store._hot_path._connection.info.backend_pid != backend
    assert database.scalar("SELECT count(*) FROM cds_cards") == 2
    assert send(store, item(first), item(second)) == 2
    store.close()


def test_an_unreachable_postgresql_is_a_503_for_the_call(databases):
    from cds_service.store.errors import unavailable
    from cds_service.store.postgres_hot import PostgresHotPath

    unreachable = PostgresHotPath(make_url("postgresql+psycopg://cds@127.0.0.1:1/none"),
                                  unavailable)
    with pytest.raises(CdsError) as refused:
        unreachable.record_cards([], [])
    assert refused.value.status == 503
    with pytest.raises(CdsError):
        unreachable.remember_token("a" * 64, datetime.now(UTC), datetime.now(UTC))


# -- evidence: references and offsets per card -------------------------------------------------


def test_a_cards_evidence_is_kept_as_references_and_offsets(store):
    from tests.builders import DISCHARGE, condition, pipeline, request

    note = "Low back pain with left sciatica. Denies numbness."
    result = pipeline().evaluate(DISCHARGE, request(condition(note=note)))
    from cds_service.http.services import card_evidence

    evidence = card_evidence(result)
    store.record_cards(SERVICE, result.response["cards"], hook=HOOK,
                       hook_instance=str(uuid.uuid4()), patient_id="patient-7",
                       evidence=evidence)
    [card] = [c for c in result.response["cards"]
              if c["source"]["topic"]["code"] == "specificity-radicular"]
    kept = store.card_evidence(card["uuid"])
    assert kept == evidence[card["uuid"]]
    sciatica = next(item for item in kept if item["finding"] == "sciatica")
    assert (sciatica["reference"], sciatica["element"]) == ("Condition/c1", "note[0].text")
    assert note[sciatica["start"]:sciatica["end"]] == "sciatica"
    negated = next(item for item in kept if item["finding"] == "numbness")
    assert negated["counted"] is False and negated["setAsideBy"] == "negation"
    stored = " ".join(str(row) for row in store_rows(store))
    for words in ("Low back pain", "left sciatica", "Denies", "M54.50"):
        assert words not in stored
    assert store.card_evidence("no-such-card") is None


def store_rows(store):
    with store.transaction(write=False) as connection:
        return [tuple(row) for row in connection.exec_driver_sql(
            "SELECT evidence FROM cds_cards").fetchall()]


def test_the_store_imports_neither_the_cards_nor_the_hooks():
    """The store sits below nothing it records: a caller passes the card templates in
    (report.rule_report)."""
    import ast

    import cds_service.store

    for path in Path(cds_service.store.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 2:
                names = [node.module] if node.module else [a.name for a in node.names]
                assert not {n.split(".")[0] for n in names} & {"cards", "hooks", "http"}, path
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert not (node.module or "").startswith(
                    ("cds_service.cards", "cds_service.hooks", "cds_service.http")), path

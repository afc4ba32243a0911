"""What the whole test run logged, scanned for patient data and tokens.

As a plugin (tests/conftest.py), this module points every LiveServer's log file into one
temporary directory, ``LOG_DIR`` (the servers log at DEBUG there, through CDS_TEST_LOG_DIR), and
adds a handler to the test process's root logger that writes every record, with all its
attributes, into the same directory. At the end of the session every file is scanned for:

- the patient data in the example fixtures: note texts, names, identifiers and ids (those long
  enough not to match by chance);
- values the tests register as secret while they run (``register_secret``): the JWTs they mint,
  canary patient ids, names and notes;
- anything shaped like a JWT, or a bearer token.

Any hit fails the session (exit status 1), naming the file, the line and the marker's kind, and
the logs are kept for reading.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.examples import EXAMPLES, SYNTHEA

LOG_DIR = Path(tempfile.mkdtemp(prefix="cds-test-logs-"))
IN_PROCESS_LOG = "in-process.log"
SERVER_LOG_GLOB = "cds-*.log"

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"Bearer\s+[A-Za-z0-9._~+/=-]{16,}")
_MIN_ID_LENGTH = 6  # "p1" would match everywhere; fixture ids this long or longer are markers

_secrets: dict[str, str] = {}
_secrets_lock = threading.Lock()


def register_secret(value: str, kind: str = "secret") -> str:
    """Mark ``value`` as something no log may contain; returns it, for inline use."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _secrets[value] = kind
    return value


@dataclass(frozen=True)
class Leak:
    file: str
    line: int
    kind: str
    excerpt: str  # the marker itself is never repeated: only its kind and its length

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.kind} ({self.excerpt})"


def fixture_markers(examples: Iterable[Path]) -> dict[str, str]:
    """Patient data in the example requests: notes, names, identifiers, long ids."""
    markers: dict[str, str] = {}
    for path in examples:
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        for kind, value in _patient_values(data):
            if isinstance(value, str) and len(value.strip()) >= _MIN_ID_LENGTH:
                markers[value.strip()] = kind
    return markers


def _patient_values(node: Any, parent_key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        resource_type = node.get("resourceType")
        if resource_type == "Patient":
            yield "patient id", node.get("id")
            for name in node.get("name") or []:
                if isinstance(name, dict):
                    yield "patient name", name.get("family")
                    yield "patient name", name.get("text")
                    for given in name.get("given") or []:
                        yield "patient name", given
        identifiers = node.get("identifier") if resource_type else None
        for identifier in identifiers if isinstance(identifiers, list) else []:
            if isinstance(identifier, dict):
                yield "identifier", identifier.get("value")
        if "patientId" in node:
            yield "patient id", node.get("patientId")
        for key, value in node.items():
            if key == "note" and isinstance(value, list):
                for note in value:
                    if isinstance(note, dict):
                        yield "note text", note.get("text")
            yield from _patient_values(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from _patient_values(item, parent_key)


def scan(log_dir: Path, markers: dict[str, str]) -> list[Leak]:
    with _secrets_lock:
        every = {**_secrets, **markers}  # a value that is both: named by its fixture kind
    # the longest first, so that a note is reported as a note, not as a word inside it
    ordered = sorted(every.items(), key=lambda item: -len(item[0]))
    leaks: list[Leak] = []
    files = sorted(log_dir.glob(SERVER_LOG_GLOB)) + [log_dir / IN_PROCESS_LOG]
    for path in files:
        if not path.exists():
            continue
        text = path.read_text("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            for marker, kind in ordered:
                if marker in line:
                    leaks.append(Leak(path.name, number, kind, f"{len(marker)} characters"))
                    break
            else:
                if _JWT.search(line):
                    leaks.append(Leak(path.name, number, "JWT-shaped string", "pattern"))
                elif _BEARER.search(line):
                    leaks.append(Leak(path.name, number, "bearer token", "pattern"))
    return leaks


class RecordEverythingHandler(logging.Handler):
    """Writes each record of the test process, every attribute of it, one JSON line each."""

    def __init__(self, path: Path):
        super().__init__(logging.DEBUG)
        self.path = path
        self._file = path.open("a", encoding="utf-8")
        self._plain = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry = {key: _text(value) for key, value in record.__dict__.items()}
            entry["formatted"] = record.getMessage()
            if record.exc_info:
                entry["exception"] = self._plain.formatException(record.exc_info)
            with self.lock:
                self._file.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
                self._file.flush()
        except Exception:  # a log call must never fail a test
            self.handleError(record)

    def close(self) -> None:
        with self.lock:
            if not self._file.closed:
                self._file.close()
        super().close()


def _text(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return repr(value)


# -- the plugin: the run's logs gathered in LOG_DIR, scanned at the end -------------------------

_handler: RecordEverythingHandler | None = None


def pytest_configure(config) -> None:
    global _handler
    os.environ["CDS_TEST_LOG_DIR"] = str(LOG_DIR)  # every LiveServer logs there
    _handler = RecordEverythingHandler(LOG_DIR / IN_PROCESS_LOG)
    logging.getLogger().addHandler(_handler)
    logging.getLogger("cds_service").setLevel(logging.DEBUG)  # "at any level"


def pytest_sessionfinish(session, exitstatus) -> None:
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        _handler.close()
    leaks = [str(leak) for leak in scan(LOG_DIR, fixture_markers(EXAMPLES + SYNTHEA))]
    if leaks:
        _kept.append(str(LOG_DIR))
    else:
        shutil.rmtree(LOG_DIR, ignore_errors=True)
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:  # a pytest-xdist worker: its controller reports
        worker_output["log_leaks"], worker_output["logs_kept"] = leaks, _kept
        return
    _leaks.extend(leaks)
    if _leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "patient data or tokens in the logs", red=True)
            for leak in _leaks[:50]:
                reporter.write_line(leak)
            reporter.write_line(f"logs kept in {', '.join(_kept)}")


_leaks: list[str] = []  # the workers' (under pytest-xdist -n), then this process's
_kept: list[str] = []


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's controller, as each worker finishes
def pytest_testnodedown(node, error) -> None:
    output = getattr(node, "workeroutput", {})
    _leaks.extend(output.get("log_leaks", []))
    _kept.extend(output.get("logs_kept", []))

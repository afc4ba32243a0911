"""Shared fixtures: the Flask app and test client, the real server on a loopback port, and the
example requests copied from ../shared/examples into tests/fixtures/examples."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from cds_service import create_app
from cds_service.hooks.pipeline import HookPipeline
from cds_service.settings import Settings
from tests import log_scan
from tests.auth_support import ISSUER, TENANT, TENANT_ISSUER, JwksServer, ec_key, rsa_key
from tests.contract import cds_hooks_problems

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = sorted((FIXTURES / "examples").glob("*.json"))
SYNTHEA = sorted((FIXTURES / "synthea").glob("*.json"))  # scripts/synthea_fixtures.py


# -- the logs of the whole run, scanned for patient data and tokens (tests/log_scan.py) ---------

LOG_DIR = Path(tempfile.mkdtemp(prefix="cds-test-logs-"))
_log_handler: log_scan.RecordEverythingHandler | None = None


def pytest_configure(config) -> None:
    global _log_handler
    _check_every_hook_response()
    os.environ["CDS_TEST_LOG_DIR"] = str(LOG_DIR)  # every LiveServer logs there
    # The feedback database of the in-process apps: a throwaway SQLite file, never the user's
    # default one nor a DATABASE_URL from the shell (each LiveServer gets its own folder too).
    os.environ.pop("DATABASE_URL", None)
    os.environ["CDS_DATA_DIR"] = str(LOG_DIR / "data")
    # Settings loaded from an explicit environment (no CDS_DATA_DIR) fall back to the default
    # folder: keep that inside the run too, never the user's ~/.local/share.
    os.environ["XDG_DATA_HOME"] = str(LOG_DIR / "xdg-data")
    _log_handler = log_scan.RecordEverythingHandler(LOG_DIR / log_scan.IN_PROCESS_LOG)
    logging.getLogger().addHandler(_log_handler)
    logging.getLogger("cds_service").setLevel(logging.DEBUG)  # "at any level"


def pytest_sessionfinish(session, exitstatus) -> None:
    if _log_handler is not None:
        logging.getLogger().removeHandler(_log_handler)
        _log_handler.close()
    leaks = log_scan.scan(LOG_DIR, log_scan.fixture_markers(EXAMPLES + SYNTHEA))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter is not None:
            reporter.write_sep("=", "patient data or tokens in the logs", red=True)
            for leak in leaks[:50]:
                reporter.write_line(str(leak))
            reporter.write_line(f"logs kept in {LOG_DIR}")
    else:
        shutil.rmtree(LOG_DIR, ignore_errors=True)


# -- the generic CDS Hooks card/action checks (tests/contract.py), on every hook response ------

_HOOK_PATH = re.compile(r"^/cds-services/[^/]+/?$")


class CdsHooksContractError(AssertionError):
    """A hook response a test received breaks the CDS Hooks 2.0 card or action contract."""


def check_hook_response(method: str, path: str, status: int, body: bytes) -> None:
    if method != "POST" or status != 200 or not _HOOK_PATH.match(path):
        return
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise CdsHooksContractError(f"POST {path} answered 200 with a body that is not JSON") \
            from None
    problems = cds_hooks_problems(decoded)
    if problems:
        raise CdsHooksContractError(f"POST {path}: {problems[:10]}")


class ContractCheckingClient(FlaskClient):
    """The Flask test client, checking every hook response it returns."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        check_hook_response(response.request.method, response.request.path,
                            response.status_code, response.get_data())
        return response


def _check_every_hook_response() -> None:
    """Every hook response a test sees is checked: through the Flask test client, through
    ``requests`` to a server on loopback (LiveServer), and from the pipeline in process."""
    Flask.test_client_class = ContractCheckingClient
    send = requests.Session.send

    def checked_send(self, request, **kwargs):
        response = send(self, request, **kwargs)
        parts = urlsplit(request.url)
        if not kwargs.get("stream") and parts.hostname in ("127.0.0.1", "::1", "localhost"):
            check_hook_response(request.method, parts.path, response.status_code,
                                response.content)
        return response

    requests.Session.send = checked_send
    evaluate = HookPipeline.evaluate

    def checked_evaluate(self, *args, **kwargs):
        result = evaluate(self, *args, **kwargs)
        problems = cds_hooks_problems(result.response)
        if problems:
            raise CdsHooksContractError(f"pipeline response: {problems[:10]}")
        return result

    HookPipeline.evaluate = checked_evaluate


def load_example(name: str) -> dict:
    return json.loads((FIXTURES / "examples" / f"{name}.json").read_text())


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, for the page tests (headless, on loopback pages only)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing in CI: scripts/test installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed (bash scripts/test installs it with "
                    "apt-get): the page tests are skipped")
    return path


@pytest.fixture(scope="session")
def app():
    """The app with client authentication off (CDS_AUTH_DISABLED); see ``auth_app``."""
    return create_app(dataclasses.replace(Settings.load(), auth_disabled=True))


@pytest.fixture()
def client(app):
    return app.test_client()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cds_command() -> list[str]:
    installed = shutil.which("cds-service", path=str(Path(sys.executable).parent))
    return [installed] if installed else [sys.executable, "-m", "cds_service.cli"]


class LiveServer:
    """``cds-service serve`` on a free loopback port, logging at DEBUG into LOG_DIR. Client
    authentication is off (CDS_AUTH_DISABLED=true) unless ``auth=True``; ``env`` wins."""

    def __init__(self, env: dict[str, str] | None = None, workers: int = 2, auth: bool = False):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(os.environ.get("CDS_TEST_LOG_DIR", "/tmp")) / f"cds-{self.port}.log"
        # its own feedback database (SQLite in a fresh folder) unless ``env`` names one
        self.data_dir = Path(tempfile.mkdtemp(prefix="cds-live-data-"))
        defaults = {"CDS_AUTH_DISABLED": "false" if auth else "true", "CDS_LOG_LEVEL": "debug",
                    "NO_PROXY": "127.0.0.1,localhost", "CDS_DATA_DIR": str(self.data_dir)}
        environment = {**os.environ, **defaults, **(env or {})}
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [*cds_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(workers)],
            env=environment, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._log.close()
                raise RuntimeError(f"server exited early: {self.log_path.read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/cds-services", timeout=1).status_code in (200, 401):
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not start in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                # longer than the server's own graceful timeout (20 s): a slow but clean
                # shutdown on a loaded machine is not a hang
                self.process.wait(timeout=45)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    server = LiveServer()
    yield server
    server.stop()


# -- client authentication on (tests/auth_support.py) -----------------------------------------


@pytest.fixture(scope="session")
def jwks_server() -> Iterator[JwksServer]:
    """A CDS client's JWKS over loopback HTTP: an RSA (RS384) and an EC (ES384) key at
    /jwks.json, another EC key at /jku-allowed.json, a tenant issuer's key at /tenant.json."""
    server = JwksServer()
    server.keys = {"rsa": rsa_key("rsa-1"), "ec": ec_key("ec-1"), "jku": ec_key("jku-1"),
                   "tenant": ec_key("tenant-1")}
    server.publish("/jwks.json", server.keys["rsa"], server.keys["ec"])
    server.publish("/jku-allowed.json", server.keys["jku"])
    server.publish("/jku-not-allowed.json", server.keys["jku"])
    server.publish("/tenant.json", server.keys["tenant"])
    yield server
    server.stop()


def trusted_issuers_env(jwks: JwksServer) -> dict[str, str]:
    issuers = [
        {"iss": ISSUER, "jwks_url": jwks.url("/jwks.json"), "jku": [jwks.url("/jku-allowed.json")]},
        {"iss": TENANT_ISSUER, "jwks_url": jwks.url("/tenant.json"), "tenant": TENANT},
    ]
    return {"CDS_TRUSTED_ISSUERS": json.dumps(issuers),
            "CDS_AUTH_AUDIENCE_ALIASES": "https://cds.example.test/lbp",
            # re-fetch the JWKS on every call, so that the outage test meets a real failed fetch
            "CDS_AUTH_JWKS_TTL_SECONDS": "0", "CDS_AUTH_JWKS_MIN_REFETCH_SECONDS": "0"}


@pytest.fixture(scope="session")
def auth_live_server(jwks_server) -> Iterator[LiveServer]:
    """The real server with client authentication on, trusting ``jwks_server``'s issuers, with
    one worker (the replay across workers and replicas has its own test in test_auth.py)."""
    server = LiveServer(env=trusted_issuers_env(jwks_server), workers=1, auth=True)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def auth_app(jwks_server):
    """The app in process with client authentication on, trusting ``jwks_server``'s issuers."""
    return create_app(Settings.load(environ={**trusted_issuers_env(jwks_server),
                                             "CDS_AUTH_JWKS_TTL_SECONDS": "300"}))


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory) -> Path:
    """The project's wheel, built once per session from this checkout."""
    out = tmp_path_factory.mktemp("wheel")
    root = Path(__file__).resolve().parent.parent
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(root)],
        check=True, stdin=subprocess.DEVNULL,
    )
    wheels = list(out.glob("cds_service-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="session")
def wheel_venv(built_wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with only the built wheel (and its dependencies) installed."""
    venv = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(built_wheel)],
        check=True, stdin=subprocess.DEVNULL,
    )
    return venv

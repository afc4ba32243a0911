"""``cds-service serve`` on a free loopback port, as a newcomer or an operator starts it: the
``LiveServer`` class, the session's shared ``live_server`` fixture, and the command itself."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cds_command() -> list[str]:
    installed = shutil.which("cds-service", path=str(Path(sys.executable).parent))
    return [installed] if installed else [sys.executable, "-m", "cds_service.cli"]


class LiveServer:
    """``cds-service serve`` on a free loopback port, logging at DEBUG into the run's log
    folder (tests/support/logs.py). Client authentication is off (CDS_AUTH_DISABLED=true) unless
    ``auth=True``; ``env`` wins."""

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

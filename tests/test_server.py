"""`cds-service serve` (gunicorn): graceful shutdown with a request in flight, the metrics
directory's life, and start-up failures."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

from tests.support.examples import load_example
from tests.support.live_server import LiveServer, cds_command

SERVICE = "lbp-coding-encounter-discharge"


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    assert data, "the connection was closed without an answer"
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _open_sockets(server: LiveServer) -> set[str]:
    """Sockets held by the server's workers (the listener, and each connection accepted)."""
    pid = server.process.pid
    sockets = set()
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        for fd in Path(f"/proc/{child}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:"):
                    sockets.add(target)
    return sockets


def test_sigterm_lets_the_request_in_flight_finish(tmp_path):
    """A client is still uploading its hook request when the server is told to stop: the
    request is read to its end, answered in full, then the server exits cleanly."""
    server = LiveServer(env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}, workers=2)
    try:
        body = json.dumps(load_example("retired-m545")["request"]).encode()
        head = (f"POST /cds-services/{SERVICE} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        idle = _open_sockets(server)
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        sock.sendall(head + body[:200])
        # a worker has accepted the connection and is reading the rest of the body
        deadline = time.monotonic() + 30
        while not _open_sockets(server) - idle:
            assert time.monotonic() < deadline, "no worker accepted the connection"
            time.sleep(0.05)

        server.process.send_signal(signal.SIGTERM)
        sock.sendall(body[200:])
        status, headers, answer = _read_response(sock)
        sock.close()
        assert status == 200
        assert len(answer) == int(headers["content-length"])
        cards = json.loads(answer)["cards"]
        assert "invalid-code" in {c["source"]["topic"]["code"] for c in cards}
        assert server.process.wait(timeout=60) == 0
        log = server.log_text()
        assert "Shutting down" in log or "Handling signal: term" in log
    finally:
        server.stop()


def test_the_metrics_directory_is_made_fresh_and_removed_on_exit(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    server = LiveServer(env={"TMPDIR": str(scratch)}, workers=2)
    try:
        requests.get(f"{server.url}/healthz", timeout=10)
        made = list(scratch.glob("cds-metrics-*"))
        assert len(made) == 1 and list(made[0].glob("*.db"))
    finally:
        server.stop()
    assert server.process.returncode == 0
    assert not list(scratch.glob("cds-metrics-*"))


def test_a_given_metrics_directory_is_emptied_of_an_old_runs_samples(tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"stale samples of a previous run")
    server = LiveServer(env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}, workers=1)
    try:
        assert not (metrics_dir / "counter_999999.db").exists()
        assert requests.get(f"{server.url}/metrics", timeout=10).status_code == 200
    finally:
        server.stop()
    assert metrics_dir.is_dir()  # the operator's directory stays


def test_command_line_values_are_checked_like_the_others(tmp_path):
    result = subprocess.run(
        [*cds_command(), "serve", "--port", "0", "--workers", "3"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CDS_WORKERS": "none"},
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--port must be at least 1, got 0" in result.stderr
    # the command line wins over the environment: the bad CDS_WORKERS is not used
    assert "CDS_WORKERS" not in result.stderr


def test_a_time_budget_near_the_worker_timeout_stops_serve(tmp_path):
    """A call past its budget must be answered before its worker is restarted."""
    result = subprocess.run(
        [*cds_command(), "serve", "--port", "8080"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CDS_WORKER_TIMEOUT": "10",
             "CDS_REQUEST_BUDGET_SECONDS": "9"},
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "CDS_REQUEST_BUDGET_SECONDS (9) must stay well below CDS_WORKER_TIMEOUT (10)" \
        in result.stderr

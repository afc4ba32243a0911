"""Cold start (command to the first 200 on discovery) and resident memory per worker.

Run: .venv/bin/python benchmarks/bench_cold_start.py [--runs 5]
The floor is the echo app on the same server stack (gunicorn + Flask), started the same way.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pss_mib(pid: int) -> float:
    # PSS splits pages shared copy-on-write between the forked workers fairly
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return float("nan")
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def measure(command: list[str], port: int, env: dict) -> tuple[float, list[tuple[float, float]]]:
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/cds-services", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.01)
            if time.perf_counter() - start > 60:
                raise RuntimeError("no answer in 60 s")
        elapsed = time.perf_counter() - start
        time.sleep(0.5)
        workers = [(rss_mib(pid), pss_mib(pid)) for pid in children(process.pid)]
        return elapsed, workers
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    env = {**os.environ, "CDS_AUTH_DISABLED": "true", "CDS_DATA_DIR": tempfile.mkdtemp()}
    python = sys.executable
    for name, template in (
        ("echo", [python, str(HERE / "echo_server.py"), "127.0.0.1", "{port}",
                  str(args.workers)]),
        ("service", [python, "-m", "cds_service.cli", "serve", "--host", "127.0.0.1",
                     "--port", "{port}", "--workers", str(args.workers)]),
    ):
        times, memory = [], []
        for _ in range(args.runs):
            port = free_port()
            elapsed, workers = measure([c.replace("{port}", str(port)) for c in template],
                                       port, env)
            times.append(elapsed)
            memory.extend(workers)
        rss = statistics.median(m[0] for m in memory) if memory else float("nan")
        pss = statistics.median(m[1] for m in memory) if memory else float("nan")
        print(f"{name:>8}: cold start median {statistics.median(times):.2f} s "
              f"(min {min(times):.2f}); per worker RSS {rss:.0f} MiB, PSS {pss:.0f} MiB")


if __name__ == "__main__":
    main()

"""HTTP throughput and latency of `cds-service serve` on loopback, against an echo endpoint on
the same server stack answering the same request bytes.

Run: .venv/bin/python benchmarks/bench_http.py [--duration 10] [--size 10] [--bodies N]
Needs `wrk` (Debian: apt-get install wrk). Load comes from another process; traffic stays on
127.0.0.1. Prints requests/s, p50 and p99 at 1, 16 and 64 concurrent connections, and the
service's throughput as a ratio of the echo endpoint's, for two workloads:

- ``same``: the same request bytes on every call (the issue's measure; as when the EHR fires the
  hook again for the same visit): what the service remembers between calls (resources already
  validated, notes already read, card texts already rendered) is in play;
- ``distinct``: every call another patient (``--bodies`` requests in turn, each with its own ids,
  hookInstance and note), so that none of that helps: the cost of a request never seen.

``--auth`` also runs the service as deployed, with client authentication on: a CDS client's
JWKS (an ES384 and an RS384 key) served on loopback, and every call carrying its own token
(signed before the run, a fresh ``jti`` each, so that the replay check stores every one), for
the ``same`` workload; it prints the calls refused, which must be none.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from workload import request_bytes  # noqa: E402

SERVICE = "lbp-coding-encounter-discharge"
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {}
for line in io.lines("{bodies}") do bodies[#bodies + 1] = line end
local next_body = 0
request = function()
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[next_body])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %f %f %f\\n", summary.requests,
    summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3))
end
"""


# one token per call: thread N of wrk takes lines N, N + threads, ... of the token file
AUTH_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local body = io.open("{body}"):read("*a")
local threads_made = 0
function setup(thread)
  thread:set("id", threads_made)
  threads_made = threads_made + 1
end
local tokens = {}
local next_token = 0
function init(args)
  local line_number = 0
  for line in io.lines("{tokens}") do
    if line_number % {threads} == id then tokens[#tokens + 1] = line end
    line_number = line_number + 1
  end
end
request = function()
  next_token = next_token % #tokens + 1
  wrk.headers["Authorization"] = "Bearer " .. tokens[next_token]
  return wrk.format(nil, nil, nil, body)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %f %f %f\\n", summary.requests,
    summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3))
  io.write(string.format("ERRORS %d\\n", summary.errors.status))
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], port: int, env: dict) -> subprocess.Popen:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/cds-services", timeout=1)
            return process
        except requests.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("server did not start")


def wrk(url: str, script: Path, connections: int, duration: int) -> tuple[float, float, float]:
    threads = min(connections, 2)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s",
         str(script), url], capture_output=True, text=True, check=True).stdout
    match = re.search(r"RESULT (\d+) ([\d.]+) ([\d.]+) ([\d.]+)", out)
    count, seconds, p50, p99 = (float(g) for g in match.groups())
    return count / seconds, p50, p99


def wrk_errors(url: str, script: Path, connections: int, duration: int
               ) -> tuple[float, float, float, int]:
    threads = min(connections, 2)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s",
         str(script), url], capture_output=True, text=True, check=True).stdout
    match = re.search(r"RESULT (\d+) ([\d.]+) ([\d.]+) ([\d.]+)", out)
    count, seconds, p50, p99 = (float(g) for g in match.groups())
    refused = int(re.search(r"ERRORS (\d+)", out).group(1))
    return count / seconds, p50, p99, refused


def run_with_auth(args, workdir: Path, body: bytes) -> dict:
    """The service with client authentication on; ES384 and RS384 tokens, one per call."""
    from tests.auth_support import ISSUER, JwksServer, claims, ec_key, mint, rsa_key

    jwks = JwksServer()
    keys = {"ES384": ec_key("bench-ec"), "RS384": rsa_key("bench-rsa")}
    jwks.publish("/jwks.json", *keys.values())
    (workdir / "body.json").write_bytes(body)
    port = free_port()
    url = f"http://127.0.0.1:{port}/cds-services/{SERVICE}"
    env = {**os.environ, "CDS_AUTH_DISABLED": "false", "CDS_DATA_DIR": str(workdir / "auth"),
           "CDS_LOG_LEVEL": "warning",
           "CDS_TRUSTED_ISSUERS": f'[{{"iss": "{ISSUER}", "jwks_url": '
                                  f'"{jwks.url("/jwks.json")}"}}]'}
    command = [sys.executable, "-m", "cds_service.cli", "serve", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(args.workers)]
    results = {}
    process = start(command, port, env)
    try:
        for alg, key in keys.items():
            for connections in (1, 16, 64):
                count = args.tokens_per_second * args.duration
                tokens = workdir / f"tokens-{alg}-{connections}.txt"
                tokens.write_text("\n".join(mint(key, claims(url, lifetime=3600))
                                             for _ in range(count)) + "\n")
                script = workdir / f"auth-{alg}-{connections}.lua"
                script.write_text(AUTH_LUA.replace("{body}", str(workdir / "body.json"))
                                  .replace("{tokens}", str(tokens))
                                  .replace("{threads}", str(min(connections, 2))))
                results[alg, connections] = wrk_errors(url, script, connections, args.duration)
    finally:
        process.terminate()
        process.wait(timeout=30)
        jwks.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--size", type=int, default=10, help="resources in the request")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--bodies", type=int, default=0,
                        help="distinct requests of the 'distinct' workload (default: more than "
                             "the service can answer in --duration, so that none comes twice)")
    parser.add_argument("--auth", action="store_true",
                        help="also run with client authentication on (ES384 and RS384 tokens)")
    parser.add_argument("--tokens-per-second", type=int, default=1500,
                        help="tokens signed per second of each --auth run (more than the "
                             "service answers, so that none is sent twice)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    workdir = Path(tempfile.mkdtemp(prefix="bench-http-"))
    bodies_wanted = args.bodies or 2500 * args.duration
    workloads = {
        "same": [request_bytes(args.size)],
        "distinct": [request_bytes(args.size, patient_number=n)
                     for n in range(1, bodies_wanted + 1)],
    }
    scripts = {}
    for name, bodies in workloads.items():
        assert all(b"\n" not in body for body in bodies)  # one request per line
        (workdir / f"{name}.jsonl").write_bytes(b"\n".join(bodies) + b"\n")
        scripts[name] = workdir / f"{name}.lua"
        scripts[name].write_text(LUA.replace("{bodies}", str(workdir / f"{name}.jsonl")))
    env = {**os.environ, "CDS_AUTH_DISABLED": "true", "CDS_DATA_DIR": str(workdir),
           "CDS_LOG_LEVEL": "warning"}
    python = sys.executable
    results: dict[tuple[str, str], dict[int, tuple[float, float, float]]] = {}
    for server, command in (
        ("echo", [python, str(HERE / "echo_server.py"), "127.0.0.1", "{port}",
                  str(args.workers)]),
        ("service", [python, "-m", "cds_service.cli", "serve", "--host", "127.0.0.1",
                     "--port", "{port}", "--workers", str(args.workers)]),
    ):
        port = free_port()
        process = start([c.replace("{port}", str(port)) for c in command], port, env)
        try:
            url = f"http://127.0.0.1:{port}/cds-services/{SERVICE}"
            for name, bodies in workloads.items():
                check = requests.post(url, data=bodies[-1],
                                      headers={"Content-Type": "application/json"}, timeout=10)
                assert check.status_code == 200, check.text[:300]
                results[server, name] = {c: wrk(url, scripts[name], c, args.duration)
                                         for c in (1, 16, 64)}
        finally:
            process.terminate()
            process.wait(timeout=30)
    with_auth = run_with_auth(args, workdir, workloads["same"][0]) if args.auth else {}
    print(f"request: {args.size} resources, {len(workloads['same'][0])} bytes; "
          f"{args.workers} workers; {os.cpu_count()} CPUs; {args.duration}s per run")
    for name in workloads:
        print(f"\n{name}:")
        print(f"{'conns':>5} {'echo rps':>9} {'svc rps':>9} {'ratio':>6} {'svc p50':>9} "
              f"{'svc p99':>9} {'echo p99':>9}")
        for connections in (1, 16, 64):
            e_rps, _, e_p99 = results["echo", name][connections]
            s_rps, s_p50, s_p99 = results["service", name][connections]
            print(f"{connections:>5} {e_rps:>9.0f} {s_rps:>9.0f} {s_rps / e_rps:>6.2f} "
                  f"{s_p50:>7.2f}ms {s_p99:>7.2f}ms {e_p99:>7.2f}ms")
    if with_auth:
        print("\nsame, client authentication on (a fresh token each call):")
        print(f"{'conns':>5} {'alg':>6} {'svc rps':>9} {'vs off':>7} {'svc p50':>9} "
              f"{'svc p99':>9} {'refused':>8}")
        for alg in ("ES384", "RS384"):
            for connections in (1, 16, 64):
                rps, p50, p99, refused = with_auth[alg, connections]
                off_rps = results["service", "same"][connections][0]
                print(f"{connections:>5} {alg:>6} {rps:>9.0f} {rps / off_rps:>7.2f} "
                      f"{p50:>7.2f}ms {p99:>7.2f}ms {refused:>8}")


if __name__ == "__main__":
    main()

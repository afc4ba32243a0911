"""The server group of the settings: how `cds-service serve` runs (gunicorn's bind, workers,
timeouts, log level) and what the HTTP layer accepts (body size, CORS origins)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from .parsers import choice, integer, number, string_list, text
from .spec import setting


def usable_cpus() -> int:
    """CPUs this process may use: its CPU affinity, capped by a cgroup (container) CPU quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        count = min(count, math.ceil(quota))
    return max(1, count)


def _cgroup_cpu_quota() -> float | None:
    try:  # cgroup v2: "max 100000" or "<quota> <period>"
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        quota_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class ServerSettings:
    """Serving (gunicorn) and HTTP."""

    # Serving (gunicorn). Each request is CPU work (FHIR parsing, rules), so one single-threaded
    # worker process per usable CPU: threads in one process contend for the GIL and the SQLite
    # write lock (benchmarks/README.md: p99 at 64 clients 89 ms with 1 thread, 315 ms with 4).
    # Deployments that fetch from a slow FHIR server raise CDS_WORKERS or CDS_THREADS.
    host: str = setting("CDS_HOST", "127.0.0.1", text, "Address `cds-service serve` binds to")
    port: int = setting("CDS_PORT", 8080, integer(1, 65535), "Port `cds-service serve` listens on")
    workers: int = setting("CDS_WORKERS", None, integer(1, 256),
                           "gunicorn worker processes (default: the CPUs this process may use)",
                           default_factory=usable_cpus)
    threads: int = setting("CDS_THREADS", 1, integer(1, 64), "Threads per worker")
    worker_timeout: int = setting("CDS_WORKER_TIMEOUT", 30, integer(1),
                                  "Seconds a request may run before its worker is restarted")
    graceful_timeout: int = setting("CDS_GRACEFUL_TIMEOUT", 20, integer(0),
                                    "Seconds in-flight requests get to finish after SIGTERM")
    keepalive: int = setting("CDS_KEEPALIVE", 5, integer(0, 3600),
                             "Seconds an idle keep-alive connection is kept open")
    client_read_timeout: float = setting(
        "CDS_CLIENT_READ_TIMEOUT", 15.0, number(0.5, 600),
        "Seconds a client may take to send one request, headers and body (then 408)")
    request_budget_seconds: float = setting(
        "CDS_REQUEST_BUDGET_SECONDS", 10.0, number(0, 3600),
        "Seconds of work one hook call may take, below CDS_WORKER_TIMEOUT (then 503; 0: none)")
    log_level: str = setting("CDS_LOG_LEVEL", "info",
                             choice("debug", "info", "warning", "error", "critical"), "Log level")
    # HTTP
    max_body_bytes: int = setting("CDS_MAX_BODY_BYTES", 5 * 1024 * 1024, integer(1024),
                                  "Largest request body accepted (413 above)")
    cors_origins: tuple[str, ...] = setting("CDS_CORS_ORIGINS", ("*",), string_list,
                                            "Origins allowed by CORS (comma-separated)")

"""Prometheus metrics across gunicorn workers: the real server with two workers, its
multiprocess directory read per worker and as a whole, and a worker killed on the way."""

from __future__ import annotations

import os
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.support.examples import load_example
from tests.support.live_server import LiveServer

SERVICE = "lbp-coding-encounter-discharge"
CALLS = {"endpoint": "services.call_service", "service": SERVICE, "hook": "encounter-discharge",
         "status": "200"}


def _value(samples, name: str, labels: dict) -> float:
    return sum(s.value for s in samples if s.name == name and s.labels == labels)


def scrape(url: str) -> list:
    text = requests.get(f"{url}/metrics", timeout=10).text
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def per_worker_calls(metrics_dir: Path, scratch: Path) -> dict[int, float]:
    """Hook calls answered by each worker, read from that worker's own file alone."""
    counts = {}
    for path in metrics_dir.glob("counter_*.db"):
        alone = scratch / path.stem
        alone.mkdir(exist_ok=True)
        shutil.copy(path, alone / path.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))
        samples = [s for m in registry.collect() for s in m.samples]
        counts[int(path.stem.split("_")[1])] = _value(samples, "cds_http_requests_total", CALLS)
    return counts


def _call(url: str, body: dict) -> int:
    # a new connection each time, so that both workers' accept loops get a share
    response = requests.post(f"{url}/cds-services/{SERVICE}", json=body, timeout=60,
                             headers={"Connection": "close"})
    return response.status_code


def test_counts_add_up_across_workers_and_survive_a_dead_worker(tmp_path):
    metrics_dir = tmp_path / "metrics"
    server = LiveServer(env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}, workers=2)
    try:
        body = load_example("retired-m545")["request"]
        one = requests.post(f"{server.url}/cds-services/{SERVICE}", json=body, timeout=60).json()
        cards_per_call = sum(c["source"]["topic"]["code"] == "invalid-code" for c in one["cards"])
        sent = 1
        with ThreadPoolExecutor(max_workers=8) as pool:
            while sent < 400:  # until both workers have answered hook calls (bounded)
                statuses = list(pool.map(lambda _: _call(server.url, body), range(16)))
                assert statuses == [200] * 16
                sent += 16
                if sum(1 for n in per_worker_calls(metrics_dir, tmp_path).values() if n) >= 2:
                    break
        by_worker = per_worker_calls(metrics_dir, tmp_path)
        assert sum(1 for n in by_worker.values() if n) >= 2, by_worker
        assert sum(by_worker.values()) == sent

        # one scrape, answered by one worker, reports every worker's calls
        samples = scrape(server.url)
        assert _value(samples, "cds_http_requests_total", CALLS) == sent
        latency = {k: v for k, v in CALLS.items() if k != "status"}
        assert _value(samples, "cds_http_request_duration_seconds_count", latency) == sent
        assert _value(samples, "cds_cards_total",
                      {"service": SERVICE, "hook": "encounter-discharge",
                       "rule_id": "invalid-code", "indicator": "critical"}) == sent * cards_per_call

        # a worker dies: gunicorn replaces it, its live gauge goes, its counts stay
        victim = max(by_worker, key=by_worker.get)
        assert (metrics_dir / f"gauge_livesum_{victim}.db").exists()
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while (metrics_dir / f"gauge_livesum_{victim}.db").exists():
            assert time.monotonic() < deadline, "child_exit did not mark the dead worker"
            time.sleep(0.1)
        samples = scrape(server.url)
        assert _value(samples, "cds_http_requests_total", CALLS) == sent
        assert _value(samples, "cds_http_requests_in_progress",
                      {"endpoint": "services.call_service"}) == 0
        assert _value(samples, "cds_http_requests_in_progress",
                      {"endpoint": "ops.prometheus_metrics"}) == 1  # this scrape
    finally:
        server.stop()
    assert server.process.returncode == 0


def test_metrics_is_a_base_module_that_knows_neither_flask_nor_the_services():
    """The HTTP layer passes each request's values in (http/request_metrics.py): metrics.py
    imports no Flask and nothing of the package above it."""
    import ast

    import cds_service.metrics

    tree = ast.parse(Path(cds_service.metrics.__file__).read_text("utf-8"))
    imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
    assert not {name for name in imported if name.startswith(("flask", "cds_service", "."))}
    assert all(node.level == 0 for node in ast.walk(tree) if isinstance(node, ast.ImportFrom))

"""Production serving with gunicorn.

The application is built once in the master process before gunicorn starts, so that a bad
setting or a malformed knowledge file stops ``serve`` with a message instead of a worker crash
loop, and so that the parsed code sets are shared by the forked workers (copy-on-write).

On SIGTERM gunicorn stops accepting connections and gives the requests in flight
``graceful_timeout`` seconds to finish before the workers are killed.

Each worker is ``cds_service.worker.BufferingWorker``: it reads every request whole in its event
loop before a thread runs it, so that slow clients cost a socket, not a worker (see there).

Metrics are kept in ``PROMETHEUS_MULTIPROC_DIR`` (a fresh temporary directory unless the
operator names one), so that ``GET /metrics`` on any worker reports the sum over all of them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from gunicorn.app.base import BaseApplication

from . import logs, metrics
from .settings import Settings
from .worker import ReadLimits

# gunicorn settings that older releases lack
_OPTIONAL = frozenset({"control_socket_disable"})


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict, app: Flask, read_limits: ReadLimits | None = None):
        self.options = options
        self.application = app
        self.read_limits = read_limits  # read by the workers (cds_service/worker.py)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in _OPTIONAL and key not in self.cfg.settings:
                continue  # an older gunicorn without this setting
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def prepare_metrics_dir() -> tuple[Path, bool]:
    """Point PROMETHEUS_MULTIPROC_DIR at an empty directory before any worker forks; return
    it and whether it was created here (then it is removed when the server exits)."""
    configured = os.environ.get(metrics.MULTIPROC_ENV, "").strip()
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):  # a previous run's samples would be added to ours
            stale.unlink()
        return path, False
    path = Path(tempfile.mkdtemp(prefix="cds-metrics-"))
    os.environ[metrics.MULTIPROC_ENV] = str(path)
    return path, True


def _no_request_line(worker, req) -> None:
    """The request log (cds_service/http/request_log.py) logs the route, never the path."""


def gunicorn_options(settings: Settings) -> dict:
    host = settings.host
    return {
        "bind": f"[{host}]:{settings.port}" if ":" in host else f"{host}:{settings.port}",
        "workers": settings.workers,
        # requests read whole in the worker's loop, then run by one of its threads
        "worker_class": "cds_service.worker.BufferingWorker",
        "threads": settings.threads,
        "preload_app": True,
        "timeout": settings.worker_timeout,
        "graceful_timeout": settings.graceful_timeout,
        "keepalive": settings.keepalive,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.log_level,
        # JSON lines, the same as the app's own (cds_service/logs.py)
        "logconfig_dict": logs.logging_config(settings.log_level),
        # gunicorn's default logs each request's raw path at DEBUG: a path can hold anything
        "pre_request": _no_request_line,
        "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,
        # gunicorn 24+'s control socket (in $HOME) is unused here, and two servers of one user
        # would share its path
        "control_socket_disable": True,
    }


def run(host: str | None = None, port: int | None = None, workers: int | None = None,
        app_factory: Callable[[], Flask] | None = None, settings: Settings | None = None) -> int:
    """Serve ``create_app(settings)`` (or ``app_factory()``: the benchmarks serve an echo app
    on the very same server stack) until SIGTERM/SIGINT.

    Raises SettingsError for a bad setting, and whatever ``create_app`` raises for bad
    knowledge files, before anything listens.
    """
    if settings is None:
        settings = Settings.load(overrides={"host": host, "port": port, "workers": workers})
    logs.configure(settings.log_level)  # before create_app, which may warn
    metrics_dir, created = prepare_metrics_dir()
    try:
        if app_factory is None:
            from . import create_app
            from .store.feedback_store import prepare_app

            app = create_app(settings)
            prepare_app(app)  # open and migrate the feedback database before workers fork
        else:
            app = app_factory()
    except BaseException:
        if created:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        raise

    def child_exit(server, worker) -> None:
        metrics.mark_worker_dead(worker.pid)

    def on_exit(server) -> None:
        if created:
            shutil.rmtree(metrics_dir, ignore_errors=True)

    options = gunicorn_options(settings)
    options.update(child_exit=child_exit, on_exit=on_exit)
    read_limits = ReadLimits(settings.client_read_timeout, settings.max_body_bytes)
    _Gunicorn({k: v for k, v in options.items() if v is not None}, app, read_limits).run()
    return 0

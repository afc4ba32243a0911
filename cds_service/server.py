"""Production serving with gunicorn, the application pre-loaded so that the code-set data is
parsed once and shared by the forked workers (copy-on-write)."""

from __future__ import annotations

import os

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from . import create_app

        return create_app()


def run(host: str, port: int, workers: int | None = None) -> int:
    workers = workers or int(os.environ.get("CDS_WORKERS", "0")) or (os.cpu_count() or 1)
    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "threads": int(os.environ.get("CDS_THREADS", "1")),
        "preload_app": True,
        "timeout": int(os.environ.get("CDS_WORKER_TIMEOUT", "30")),
        "graceful_timeout": int(os.environ.get("CDS_GRACEFUL_TIMEOUT", "20")),
        "accesslog": None,
        "errorlog": "-",
        "loglevel": os.environ.get("CDS_LOG_LEVEL", "info").lower(),
        "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,
    }
    _Gunicorn({k: v for k, v in options.items() if v is not None}).run()
    return 0

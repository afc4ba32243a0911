"""Where the audit's tasks run: ``local`` (processes on this machine) or ``dask`` (Dask
distributed: a cluster named by its scheduler's address, else a LocalCluster started here).

Both run the same two task functions (``split_file``, ``evaluate_partition``) over the same
files on disk; an existing Dask cluster must see the export and the work folder at the same
paths (a shared file system), as Dask's own readers require.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from ..errors import ServiceError
from .evaluate import audit_pipeline

# Dask's defaults that cost the checks throughput (measured in benchmarks/README.md):
# - the statistical profiler samples each task's stack every 10 ms: a third of a worker;
# - the nanny starts each worker with MALLOC_TRIM_THRESHOLD_=65536, so that glibc hands freed
#   memory back to the system at once; the checks allocate and free many small objects per
#   encounter, and on a 1-worker run that setting cost 26% more CPU for the same work. A
#   worker's memory is bounded by its partition, not by what malloc keeps; None unsets it.
WORKER_CONFIG = {"distributed.worker.profile.enabled": False,
                 "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


class EngineError(ServiceError):
    """The engine cannot start (Dask missing, scheduler unreachable)."""


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class LocalEngine:
    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or usable_cpus())
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> LocalEngine:
        if self.workers > 1:
            audit_pipeline()  # loaded once here, shared with the forked workers
            context = multiprocessing.get_context(
                "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        return self

    def __exit__(self, *exc_info) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def run(self, function: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        """Each task's result, in the order they finish."""
        if self._pool is None:
            for task in tasks:
                yield function(task)
            return
        futures = [self._pool.submit(function, task) for task in tasks]
        for future in as_completed(futures):
            yield future.result()


class DaskEngine:
    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int | None = None):
        self.scheduler = scheduler
        self.workers = max(1, workers or usable_cpus())
        self._client = None
        self._cluster = None

    def __enter__(self) -> DaskEngine:
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise EngineError("the dask engine needs dask[distributed]: "
                              "pip install 'cds-service[audit]'") from None
        try:
            if self.scheduler:
                self._client = Client(self.scheduler, timeout="10s")
                self.workers = max(1, len(self._client.scheduler_info().get("workers", {})))
            else:
                # one thread per worker: the checks are CPU-bound Python; WORKER_CONFIG: no
                # statistical profiler, no aggressive malloc trimming
                with dask.config.set(WORKER_CONFIG):
                    self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                                 processes=True, dashboard_address=None,
                                                 silence_logs=logging.ERROR)
                self._client = Client(self._cluster)
        except OSError as exc:
            self.__exit__(None, None, None)
            raise EngineError(f"cannot reach the Dask scheduler ({exc.__class__.__name__})"
                              ) from None
        return self

    def __exit__(self, *exc_info) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()

    def run(self, function: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        from distributed import as_completed as dask_completed

        futures = self._client.map(function, list(tasks), pure=False)
        try:
            for future in dask_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.release()

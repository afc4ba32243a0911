"""Retrospective audit: the hooks' checks over a FHIR Bulk Data export (NDJSON), each finished
encounter evaluated as an ``encounter-discharge`` call, on this machine or a Dask cluster.

Nothing here decides about coding: every encounter goes through ``HookPipeline.evaluate``.
"""

from .run import AuditError, AuditOptions, run_audit

__all__ = ["AuditError", "AuditOptions", "run_audit"]

"""Hook handling: one module per CDS service (``order_sign``, ``encounter_discharge``) and their
registry, the request envelope, prefetch resolution, the pipeline."""

from .definition import ServiceDefinition
from .pipeline import HookPipeline, HookResult
from .registry import SERVICES

__all__ = ["SERVICES", "HookPipeline", "HookResult", "ServiceDefinition"]

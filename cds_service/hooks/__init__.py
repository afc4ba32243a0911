"""Hook handling: the services offered, the request model, prefetch resolution, the pipeline."""

from .pipeline import HookPipeline, HookResult
from .services import SERVICES, ServiceDefinition

__all__ = ["SERVICES", "HookPipeline", "HookResult", "ServiceDefinition"]

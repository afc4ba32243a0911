"""The encounter's facts: what the rules read, built once from the request (``build_facts``)."""

from .build import build_facts
from .documented import Documented, LowBackGroup
from .model import Code, Diagnosis, EncounterFacts, ProcedureFact

__all__ = ["Code", "Diagnosis", "Documented", "EncounterFacts", "LowBackGroup", "ProcedureFact",
           "build_facts"]

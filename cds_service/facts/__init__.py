"""The encounter's facts: what the rules read, built once from the request (``build_facts``)."""

from .build import build_facts
from .model import Code, Diagnosis, EncounterFacts, ProcedureFact

__all__ = ["Code", "Diagnosis", "EncounterFacts", "ProcedureFact", "build_facts"]

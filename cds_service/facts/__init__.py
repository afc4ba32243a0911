"""The encounter's facts: what the rules read, built once from the request (``build_facts``)."""

from .build import build_facts
from .encounter import EncounterFacts
from .model import Code, Diagnosis, ProcedureFact

__all__ = ["Code", "Diagnosis", "EncounterFacts", "ProcedureFact", "build_facts"]

"""The encounter's facts as the rules read them: the record as read (``model.EncounterRecord``)
and the plan of its low back problem, worked out from that record once for every rule
(``low_back``). Kept apart from the record so that the plan's modules read the record without
the record knowing of the plan."""

from __future__ import annotations

from dataclasses import dataclass, field

from .low_back import LowBackGroup
from .model import EncounterRecord


@dataclass
class EncounterFacts(EncounterRecord):
    # the encounter's low back problem, planned once for every rule (facts.low_back)
    low_back: LowBackGroup | None = field(default=None, repr=False)

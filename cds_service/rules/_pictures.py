"""The pictures each specificity rule speaks for, and what a recoding of one replaces."""

from __future__ import annotations

from collections.abc import Iterator

from ..facts import Diagnosis, EncounterFacts
from ..facts.low_back import speaking_family
from ..facts.picture import Documented
from ..terminology import Terminology
from ._findings import MAX_FINDINGS_PER_RULE


def owned_pictures(facts: EncounterFacts, owner: str | None, terminology: Terminology
                   ) -> Iterator[Documented]:
    """The coded nonspecific diagnoses whose picture the rule of ``owner`` speaks for. One led
    by an uncoded diagnosis is spoken for by that diagnosis's card; one whose code is not
    billable on the date of service by invalid-code's card, which offers the same codes."""
    if facts.low_back is None:
        return
    given = 0
    for seen in facts.low_back.coded_nonspecific:
        day = seen.diagnosis.date_of_service
        if speaking_family(seen) == owner and all(
                terminology.icd.is_billable(c, day) for c in seen.old_codes):
            yield seen
            given += 1
            if given >= MAX_FINDINGS_PER_RULE:
                return


def recoding(seen: Documented) -> tuple[list[str], list[Diagnosis]]:
    """The codes a recoding of ``seen`` replaces (its nonspecific codes, and the codes of its
    family it carries beside them) and the other Conditions it merges."""
    family = speaking_family(seen)
    if family == "radicular":
        return [*seen.old_codes, *seen.radicular.extra_codes], seen.radicular.absorb
    if family == "disc":
        return [*seen.old_codes, *seen.disc.extra_codes], seen.disc.absorb
    return list(seen.old_codes), []

"""The plan for the low back diagnosis coded only in SNOMED CT or WHO ICD-10 that leads the
encounter's group (``facts.low_back``): which ICD-10-CM code its documentation supports, and
what coding it does to the rest of the encounter.

Its candidate is not on the claim, so no rule judges it as if it were. The plan chooses the code
the same way the specificity rules do for a coded diagnosis, then looks at the codes that *are*
on the record:
- ``covered``: the encounter already codes it (the same code, or a coded code whose Excludes1
  note says the uncoded condition is coded there, e.g. M51.26 covers a SNOMED CT "low back
  pain": M54.5 Excludes1 "lumbago due to intervertebral disc displacement (M51.2-)");
- ``excludes1``: the chosen code excludes a coded one (an Excludes1 note pointing to the chosen
  code): excludes1-conflict's card codes the diagnosis and removes the other;
- ``missing``: a card codes the diagnosis, merging the coded nonspecific diagnoses it leads:
  the specificity rule of its family when the documentation makes the code more specific than
  the concept's own (``specific``), else icd10cm-missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..facts import Diagnosis, EncounterFacts
from ..facts.low_back import speaking_family
from ..facts.picture import Documented
from ..terminology import Terminology
from ._excludes import drop_choices
from ._findings import Suggestion
from ._memo import per_evaluation
from ._options import Option, default_options, more_specific_options
from ._suggestions import changes, recommend_first


@dataclass
class Conflict:
    diagnosis: Diagnosis  # another diagnosis of the encounter
    code: str  # its coded ICD-10-CM code, which the chosen code excludes
    note: str  # the Excludes1 note's text
    note_owner: str


@dataclass
class UncodedPlan:
    host: Documented
    options: list[Option]
    state: Literal["missing", "excludes1", "covered"]
    specific: bool  # chosen from the documentation (not only the concept's default code)
    conflicts: list[Conflict] = field(default_factory=list)
    merged: list[Diagnosis] = field(default_factory=list)


@per_evaluation
def uncoded_plan(facts: EncounterFacts, terminology: Terminology) -> UncodedPlan | None:
    group = facts.low_back
    if group is None or group.uncoded_host is None:
        return None
    host = group.uncoded_host
    diagnosis = host.diagnosis
    day = diagnosis.date_of_service
    options = more_specific_options(host, day, terminology)
    specific = bool(options)
    if not options:
        options = default_options(diagnosis, day, terminology)
    if not options:
        return None
    on_encounter = facts.coded_on_encounter
    if any(o.code in on_encounter or (o.also and o.also in on_encounter) for o in options):
        return UncodedPlan(host, options, "covered", specific)
    absorbed = host.disc.absorb if speaking_family(host) == "disc" else host.radicular.absorb
    merged = [*group.led, *(d for d in absorbed if not group.is_led(d))]
    chosen = options[0].code
    conflicts = []
    for other in facts.diagnoses:
        if other is diagnosis:
            continue
        for code in other.coded:
            note = terminology.icd.excludes1_conflict(chosen, code, day)
            if note is None:
                continue
            _, recommended = drop_choices(terminology, chosen, code, day)
            if recommended == chosen:
                # the coded code is where this condition is coded: nothing to add
                return UncodedPlan(host, options, "covered", specific)
            conflicts.append(Conflict(other, code, note.text, note.owner))
    state = "excludes1" if conflicts else "missing"
    merged = [d for d in merged if all(c.diagnosis is not d for c in conflicts)]
    return UncodedPlan(host, options, state, specific, conflicts, merged)


def specific_plan(facts: EncounterFacts, terminology: Terminology, owner: str
                  ) -> UncodedPlan | None:
    """The uncoded host's plan when the specificity rule of ``owner`` speaks for it."""
    plan = uncoded_plan(facts, terminology)
    if plan is None or plan.state != "missing" or not plan.specific:
        return None
    return plan if speaking_family(plan.host) == owner else None


def specific_plan_suggestions(facts: EncounterFacts, terminology: Terminology,
                              owner: str | None
                              ) -> tuple[UncodedPlan, list[Suggestion]] | None:
    """The uncoded host's plan when the specificity rule of ``owner`` speaks for it, with the
    suggestions that add each option's code to the host, merging what it leads (the first
    recommended); None when there is no such plan or nothing to suggest."""
    plan = specific_plan(facts, terminology, owner)
    if plan is None:
        return None
    suggestions = changes(plan.options, facts, plan.host.diagnosis, [], terminology,
                          plan.merged)
    if not suggestions:
        return None
    recommend_first(suggestions)
    return plan, suggestions

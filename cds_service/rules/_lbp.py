"""Choosing the more specific ICD-10-CM code a low back diagnosis's documentation supports, and
the suggestion that applies it.

The documentation itself is read before the rules run (``facts.documented``); this module only
turns a picture into codes, the same way for a diagnosis coded M54.50 (the specificity rules)
and for one coded only in SNOMED CT or WHO ICD-10 (``icd10cm-missing``). Codes come from the
ConceptMap LbpDocumentedFindingToIcd10cm, as billable on the date of service.

Sources: CDC ICD-10-CM tabular (M54.4- Lumbago with sciatica, M54.3- Sciatica, M54.1-
Radiculopathy, M51.1- disc disorders with radiculopathy and its inclusion term "Sciatica due to
intervertebral disc disorder", M51.2- displacement and its inclusion term "Lumbago due to
displacement of intervertebral disc", M51.36-/M51.37- degeneration by pain pattern, S39.012- and
S33.5- with their 7th characters); ICD-10-CM Official Guidelines I.B.9 (combination codes),
I.B.13 (laterality: no bilateral code, assign right and left), I.C.19.a (7th character).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from ..facts import Diagnosis, EncounterFacts
from ..facts.low_back import speaking_family
from ..facts.picture import Documented
from ..terminology import (
    CANONICAL_BASE,
    ICD10_WHO_SYSTEM,
    ICD10CM_SYSTEM,
    SNOMED_SYSTEM,
    Terminology,
)
from ._excludes import drop_choices
from ._fhir import new_condition, recoded, without_codes
from ._findings import MAX_FINDINGS_PER_RULE, Action, Suggestion
from ._memo import request_memo

FINDING_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/lbp-documented-finding"
FINDING_MAP = "LbpDocumentedFindingToIcd10cm"


@dataclass(frozen=True)
class Option:
    """One code a suggestion offers: ``label`` names its wording, ``also`` a second code for
    the other side (bilateral sciatica)."""

    label: str
    code: str
    also: str | None = None


# -- codes ---------------------------------------------------------------------------------
def billable_on(terminology: Terminology, code: str, day: date) -> str | None:
    """``code`` if billable on ``day``; else the code then in force above it (M51.360 on a 2023
    date of service gives M51.36); else None."""
    icd = terminology.icd
    if icd.is_billable(code, day):
        return code
    replacements = icd.replacements(code, day)
    if len(replacements) == 1 and code.startswith(replacements[0]):
        return replacements[0]
    return None


def finding_code(terminology: Terminology, finding: str, day: date) -> str | None:
    """The ICD-10-CM code for a documented finding (ConceptMap LbpDocumentedFindingToIcd10cm),
    as billable on ``day``."""
    for target in terminology.translate(FINDING_MAP, FINDING_SYSTEM, finding):
        if target.system == ICD10CM_SYSTEM and target.code:
            return billable_on(terminology, target.code, day)
    return None


# -- pictures the specificity rules speak for ------------------------------------------------
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
        if speaking_family(seen) == owner and all(terminology.icd.is_billable(c, day)
                                       for c in seen.old_codes):
            yield seen
            given += 1
            if given >= MAX_FINDINGS_PER_RULE:
                return


def recoding(seen: Documented) -> tuple[list[str], list[Diagnosis]]:
    """The codes a recoding of ``seen`` replaces (its nonspecific codes, and the codes of its
    family it carries beside them) and the other Conditions it merges."""
    if speaking_family(seen) == "radicular":
        return [*seen.old_codes, *seen.radicular.extra_codes], seen.radicular.absorb
    if speaking_family(seen) == "disc":
        return [*seen.old_codes, *seen.disc.extra_codes], seen.disc.absorb
    return list(seen.old_codes), []


# -- choosing codes ------------------------------------------------------------------------
_SCIATICA_WITH_BACK_PAIN = {"right": "sciatica-right", "left": "sciatica-left",
                            None: "sciatica-unspecified-side"}
_SCIATICA_ALONE = {"right": "sciatica-only-right", "left": "sciatica-only-left",
                   None: "sciatica-only-unspecified-side"}
_REGION_FINDING = {"lumbar": "radiculopathy-lumbar", "lumbosacral": "radiculopathy-lumbosacral"}


def _regions(found: set[str]) -> list[str]:
    return sorted(found) if len(found) == 1 else ["lumbar", "lumbosacral"]


def radicular_options(seen: Documented, day: date, terminology: Terminology) -> list[Option]:
    """Sciatica by side (M54.4- with low back pain, M54.3- without), radiculopathy by level
    (M54.16 / M54.17); the provider's own word first."""
    radicular = seen.radicular
    table = _SCIATICA_WITH_BACK_PAIN if seen.back_pain else _SCIATICA_ALONE
    sciatica: list[Option] = []
    if radicular.kinds & {"sciatica", "radiating"}:
        if radicular.side == "bilateral":
            right = finding_code(terminology, table["right"], day)
            left = finding_code(terminology, table["left"], day)
            if right and left:
                sciatica.append(Option("sciatica_bilateral", right, also=left))
        else:
            code = finding_code(terminology, table[radicular.side], day)
            if code:
                label = "sciatica_side" if radicular.side else "sciatica_unknown_side"
                sciatica.append(Option(label, code))
    radiculopathy: list[Option] = []
    if "radiculopathy" in radicular.kinds:
        for region in _regions(radicular.regions):
            code = finding_code(terminology, _REGION_FINDING[region], day)
            if code:
                radiculopathy.append(Option("radiculopathy", code))
    if "radiculopathy" in radicular.kinds and "sciatica" not in radicular.kinds:
        return radiculopathy + sciatica
    return sciatica + radiculopathy


def _disc_findings(kinds: set[str], radicular: set[str], back_pain: bool) -> list[str]:
    """The documented-finding keys to suggest, best first (without the region suffix)."""
    nerve = bool(radicular & {"sciatica", "radiculopathy"})
    leg_pain = bool(radicular)
    with_leg = "disc-degeneration-back-and-leg-pain" if back_pain else (
        "disc-degeneration-leg-pain")
    if "displacement" in kinds:
        if leg_pain:
            return ["disc-radicular"]
        chosen = ["disc-displacement"]
        if "degeneration" in kinds and back_pain:
            chosen.append("disc-degeneration-back-pain")
        return chosen
    if nerve:
        # sciatica or radiculopathy from the disc: M51.1- (its inclusion term "Sciatica due to
        # intervertebral disc disorder"); a degeneration code would leave it uncoded
        return ["disc-radicular"]
    if leg_pain:
        return [with_leg, "disc-radicular"]
    return ["disc-degeneration-back-pain" if back_pain else "disc-degeneration-no-pain"]


def disc_options(seen: Documented, day: date, terminology: Terminology) -> list[Option]:
    """A disc disorder by kind, radicular features, pain pattern and level: with radiculopathy
    or sciatica M51.1-, a displacement without M51.2-, a degeneration M51.36-/M51.37-."""
    options: list[Option] = []
    for key in _disc_findings(seen.disc.kinds, seen.radicular.kinds, seen.back_pain):
        for region in _regions(seen.disc.regions):
            code = finding_code(terminology, f"{key}-{region}", day)
            if code and all(o.code != code for o in options):
                options.append(Option(key.replace("-", "_"), code))
    return options


def injury_options(seen: Documented, day: date, terminology: Terminology) -> list[Option]:
    """A strain (S39.012-) or sprain (S33.5XX-), the 7th character by phase of care; both when
    only a mechanism (a fall, lifting) is documented."""
    injury = seen.injury
    phase = "subsequent" if injury.subsequent else "initial"
    kinds = [k for k in ("strain", "sprain") if k in injury.kinds] or ["strain", "sprain"]
    options = []
    for kind in kinds:
        code = finding_code(terminology, f"{kind}-{phase}", day)
        if code:
            options.append(Option(kind if injury.kinds else f"{kind}_if", code))
    return options


def vertebrogenic_options(seen: Documented, day: date, terminology: Terminology
                          ) -> list[Option]:
    code = finding_code(terminology, "vertebrogenic-low-back-pain", day) if (
        seen.vertebrogenic) else None
    return [Option("replace_with", code)] if code else []


def more_specific_options(seen: Documented, day: date, terminology: Terminology
                          ) -> list[Option]:
    """What the documentation supports beyond the diagnosis's own code, by the family that
    speaks for it; [] when nothing more (or when the encounter already codes it)."""
    owner = speaking_family(seen)
    if owner == "injury":
        return [] if seen.injury.specified else injury_options(seen, day, terminology)
    if owner == "disc":
        return [] if seen.disc.specified else disc_options(seen, day, terminology)
    if owner == "radicular":
        return [] if seen.radicular.specified else radicular_options(seen, day, terminology)
    return vertebrogenic_options(seen, day, terminology)


_LUMBOSACRAL_DISC = ("M51.27", "M51.37")


def disc_radicular_option(seen: Documented, code: str, day: date, terminology: Terminology
                          ) -> Option | None:
    """A disc coded without its radiculopathy (M51.2-, M51.3-) while sciatica or radiculopathy
    is documented: M51.1- for the coded level."""
    if not code.startswith(("M51.2", "M51.3")) or not seen.radicular.kinds & {
            "sciatica", "radiculopathy"}:
        return None
    region = "lumbosacral" if code.startswith(_LUMBOSACRAL_DISC) else "lumbar"
    found = finding_code(terminology, f"disc-radicular-{region}", day)
    return Option("disc_radicular", found) if found else None


def default_options(diagnosis: Diagnosis, day: date, terminology: Terminology
                    ) -> list[Option]:
    """An uncoded diagnosis's candidates, as billable on ``day``."""
    options: list[Option] = []
    for candidate in diagnosis.candidates:
        code = billable_on(terminology, candidate, day)
        if code and all(o.code != code for o in options):
            options.append(Option("candidate", code))
    return options


# -- suggestions ---------------------------------------------------------------------------
@dataclass
class _Conflicts:
    removals: list[Action]
    blocked: bool  # a code on the record already stands for the new one (its note keeps it)


def excludes_conflicts(facts: EncounterFacts, terminology: Terminology, new: str,
                       skip: Iterable[Diagnosis]) -> _Conflicts:
    """What a new code on a diagnosis does to the codes left on the encounter: each coded code
    it excludes (Excludes1) is taken off (its coding, or its Condition when nothing else is
    left), so that nothing introduced conflicts with what remains; ``blocked`` when a coded code
    is where the new one's condition is coded (offer nothing: it is coded already)."""
    skipped = {id(d) for d in skip}
    removals: list[Action] = []
    claimed = _claimed(facts)
    for code, holders, recommended in _coded_excluding(facts, terminology, new):
        holders = [d for d in holders if id(d) not in skipped]
        if not holders:
            continue
        if recommended == new:
            return _Conflicts([], True)
        for other in holders:
            if not claim(claimed, other, len(holders)):
                continue
            resource = without_codes(other, [code])
            if resource is not None:
                removals.append(Action("update", "remove_excluded", resource=resource))
            elif other.reference:
                removals.append(Action("delete", "remove_merged", resource_id=other.reference))
    return _Conflicts(removals, False)


# On an ordinary record every suggestion carries all it needs, so that each can be accepted on
# its own. On an abnormal one (many Conditions to remove), a Condition is removed by the first
# card only: otherwise the answer would grow as cards times Conditions.
_CLAIM_ALL_UP_TO = 10


def _claimed(facts: EncounterFacts) -> set[int]:
    return request_memo(facts).setdefault("claimed", set())


def claim(claimed: set[int], diagnosis: Diagnosis, among: int) -> bool:
    """Whether a suggestion may carry the removal of ``diagnosis`` (one of ``among`` to
    remove): always on an ordinary record, else only the first time."""
    if among <= _CLAIM_ALL_UP_TO:
        return True
    if id(diagnosis) in claimed:
        return False
    claimed.add(id(diagnosis))
    return True


def _coded_excluding(facts: EncounterFacts, terminology: Terminology, new: str
                     ) -> list[tuple[str, list[Diagnosis], str | None]]:
    """The distinct coded codes of the encounter in an Excludes1 relation with ``new``, with
    their diagnoses and the code the relation says to drop; once per request and code."""
    memo = request_memo(facts)
    holders: dict[str, list[Diagnosis]] | None = memo.get("holders")
    if holders is None:
        holders = memo["holders"] = {}
        for diagnosis in facts.diagnoses:
            for code in diagnosis.coded:
                holders.setdefault(code, []).append(diagnosis)
    excluding = memo.setdefault("excluding", {})
    if new not in excluding:
        icd = terminology.icd
        day = facts.date_of_service
        excluding[new] = [(code, found, drop_choices(terminology, new, code, day)[1])
                          for code, found in holders.items()
                          if code != new and icd.exists(code, day)
                          and icd.excludes1_conflict(new, code, day)]
    return excluding[new]


def code_change(option: Option, facts: EncounterFacts, diagnosis: Diagnosis,
                old: Iterable[str], terminology: Terminology,
                merged: Iterable[Diagnosis] = (), label: str | None = None
                ) -> Suggestion | None:
    """A suggestion that recodes ``diagnosis``: an ``update`` carrying the whole Condition with
    its ``old`` ICD-10-CM codes replaced by the option's code (added, for an uncoded one); a
    ``create`` for the option's second code (the other side); one ``delete`` for each other
    Condition whose content the new code takes over, and the removal of every coded code the
    new one excludes (``excludes_conflicts``). None when a coded code already stands for it.
    Wording keys of the rule's template: labels.<label>, actions.replace / add_code /
    create_also / remove_merged / remove_excluded."""
    old = list(old)
    icd = terminology.icd
    day = diagnosis.date_of_service
    merged = [d for d in merged if d.reference and d is not diagnosis]
    conflicts = excludes_conflicts(facts, terminology, option.code, [diagnosis, *merged])
    if conflicts.blocked:
        return None
    actions = [Action("update", "replace" if old else "add_code",
                      resource=recoded(diagnosis, old, option.code, terminology))]
    if option.also:
        actions.append(Action("create", "create_also",
                              resource=new_condition(facts, option.also, terminology, diagnosis)))
    actions += [Action("delete", "remove_merged", resource_id=d.reference) for d in merged]
    actions += conflicts.removals
    return Suggestion(label or option.label, actions, params={
        "old": ", ".join(old),
        "new": option.code,
        "display": icd.description(option.code, day) or option.code,
        "also": option.also or "",
        "also_display": (icd.description(option.also, day) or option.also) if option.also
        else "",
        "merged": ", ".join(d.name for d in merged),
    })


def offered_params(seen: Documented, suggestions: list[Suggestion]) -> dict:
    """The card parameters every specificity rule shares: the code replaced (none for an
    uncoded diagnosis, named by its own words and code system instead), the date of service,
    and the codes offered, the first one first."""
    diagnosis = seen.diagnosis
    return {
        "code": seen.old_codes[0] if seen.old_codes else "",
        "uncoded": diagnosis.uncoded,
        "name": diagnosis.name,
        "system": system_name(diagnosis),
        "back_pain": seen.back_pain,
        "date": diagnosis.date_of_service.isoformat(),
        "first": suggestions[0].params["new"],
        "codes": [(s.params["new"], s.params["display"]) for s in suggestions],
    }


_SYSTEM_NAMES = {SNOMED_SYSTEM: "SNOMED CT", ICD10_WHO_SYSTEM: "WHO ICD-10",
                 ICD10CM_SYSTEM: "ICD-10-CM"}


def system_name(diagnosis: Diagnosis) -> str:
    """The code system a diagnosis is coded in, as a card names it."""
    return next((_SYSTEM_NAMES[c.system] for c in diagnosis.codes if c.system in _SYSTEM_NAMES),
                "another code system")


def changes(options: Iterable[Option], facts: EncounterFacts, diagnosis: Diagnosis,
            old: Iterable[str], terminology: Terminology, merged: Iterable[Diagnosis] = (),
            label: str | None = None) -> list[Suggestion]:
    """``code_change`` for each option not already coded on the encounter."""
    on_encounter = facts.coded_on_encounter
    old, merged = list(old), list(merged)
    found = (code_change(o, facts, diagnosis, old, terminology, merged, label)
             for o in options if o.code not in on_encounter)
    return [s for s in found if s is not None]


def recommend_first(suggestions: list[Suggestion]) -> None:
    if len(suggestions) > 1:
        suggestions[0].is_recommended = True

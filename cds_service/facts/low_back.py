"""The encounter's low back group: the pictures of its low back diagnoses, the one diagnosis that
leads them, and which specificity family speaks for each picture.

One low back problem per encounter, and one diagnosis that leads it, so that two cards never
suggest different codes for the same Condition, nor delete each other's Condition. An uncoded
diagnosis of a specific family (disc, then radicular) leads when there is one: it gets the
ICD-10-CM code, and the coded nonspecific diagnoses merge into it (the suggestion "codes that
Condition and removes the other"). Otherwise each coded nonspecific diagnosis speaks for
itself, and an uncoded nonspecific one (SNOMED CT "low back pain") leads only where no coded
nonspecific diagnosis does.

The order of the families follows the ICD-10-CM index and the Official Guidelines' instruction to
code the condition to its highest specificity (Section I.B.2): an injury named as a strain or
sprain, then a disc disorder, then radicular features; an injury mechanism alone (a fall,
lifting) comes last, because a documented disc disorder or sciatica is a diagnosis and a
mechanism is not (``speaking_family``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..terminology import ICD10CM_SYSTEM, Terminology
from .contributions import CONTRIBUTORS, Contribution, Totals, contribution_of, families_of
from .documentation import coded_elements, earlier_injuries, picture_of
from .levels import one_side
from .membership import (
    DISC_DEGENERATION,
    DISC_DISPLACEMENT,
    DISC_NO_PATTERN,
    DISC_SPECIFIED,
    DORSALGIA,
    INJURY,
    NONSPECIFIC,
    RADICULAR_SPECIFIED,
    SCIATICA,
    Member,
    code_words,
    family_of,
    members_of,
)
from .model import Diagnosis, EncounterRecord
from .picture import Documented, copy_picture


def speaking_family(picture: Documented) -> str | None:
    """Which specificity family speaks for a picture (its rule's card, and the codes a
    recoding replaces and merges): a named strain or sprain, then a disc disorder, then
    radicular features, then an injury mechanism alone; None when none is documented (then
    only vertebrogenic pain may speak)."""
    if picture.injury.explicit:
        return "injury"
    if picture.disc.documented:
        return "disc"
    if picture.radicular.documented:
        return "radicular"
    if picture.injury.mechanism:
        return "injury"
    return None


@dataclass
class LowBackGroup:
    """The pictures of the encounter's low back diagnoses, and which one leads."""

    pictures: list[Documented]
    # an uncoded (SNOMED CT, WHO ICD-10) diagnosis that gets the group's code, if any
    uncoded_host: Documented | None
    # coded nonspecific diagnoses merged into the uncoded host's code
    led: list[Diagnosis]
    # diagnoses coded only with radiculopathy or sciatica codes (M54.1-, M54.3-, M54.4-), which
    # a disc code with radiculopathy (M51.1-) takes over: its Excludes1 notes forbid them beside it
    radicular_coded_apart: list[Diagnosis] = field(default_factory=list)
    _by_id: dict[int, Documented] = field(default_factory=dict, repr=False)

    def of(self, diagnosis: Diagnosis) -> Documented | None:
        return self._by_id.get(id(diagnosis))

    def is_led(self, diagnosis: Diagnosis) -> bool:
        return id(diagnosis) in self._led_ids

    @property
    def coded_nonspecific(self) -> list[Documented]:
        """Pictures of the coded nonspecific diagnoses that speak for themselves."""
        return [p for p in self.pictures if p.old_codes and not self.is_led(p.diagnosis)]

    def __post_init__(self) -> None:
        self._led_ids = {id(d) for d in self.led}


def document_low_back(facts: EncounterRecord, terminology: Terminology) -> LowBackGroup:
    """The pictures of every low back diagnosis of the encounter, and the group's leader."""
    members = members_of(facts.diagnoses, terminology)
    reader = terminology.text
    known: dict[tuple, Contribution] = {}
    contributions = []
    for member in members:
        key = (id(member.coded_in), member.diagnosis.code_text)
        if key not in known:
            known[key] = contribution_of(member, reader)
        contributions.append(known[key])
    totals = Totals(contributions)
    shared_evidence = list(facts.encounter_reason_codes)
    shared_evidence_words = [code_words(c, terminology) for c in shared_evidence]
    encounter_id = (facts.encounter or {}).get("id")
    shared_places = [(f"Encounter/{encounter_id}" if encounter_id else None, element)
                     for element, _ in coded_elements((facts.encounter or {}).get(
                         "reasonCode", []), "reasonCode")]
    contributors = [(m.diagnosis, c) for m, c in zip(members, contributions, strict=True)
                    if families_of(c)][:CONTRIBUTORS + 1]

    pictures: list[Documented] = []
    earlier = earlier_injuries(facts, terminology)
    seen_before: dict[tuple, Documented] = {}
    for member, own in zip(members, contributions, strict=True):
        diagnosis = member.diagnosis
        family = family_of(member)
        nonspecific_coded = member.coded_in.get(NONSPECIFIC, [])
        if not (nonspecific_coded or member.coded(INJURY) or _coded_disc(member)
                or (diagnosis.uncoded and family != "other")):
            continue
        # the same codes, texts and evidence read the same: worked out once per request
        key = (id(member.coded_in), id(own), id(diagnosis.reading), diagnosis.evidence_codes,
               diagnosis.date_of_service, diagnosis.candidates)
        twin = seen_before.get(key)
        if twin is not None:
            pictures.append(copy_picture(twin, diagnosis))
            continue
        picture = picture_of(facts, terminology, member, own, totals, family,
                           tuple(nonspecific_coded), shared_evidence, shared_evidence_words,
                           earlier, contributors, shared_places)
        seen_before[key] = picture
        pictures.append(picture)
    group = _choose_leader(pictures, members, facts, terminology)
    group._by_id = {id(p.diagnosis): p for p in pictures}
    return group


def _coded_disc(member: Member) -> bool:
    """Coded as a disc displacement or degeneration (M51.2-, M51.3-), not yet with
    radiculopathy (M51.1-)."""
    return (member.coded(DISC_DISPLACEMENT) or member.coded(DISC_DEGENERATION)) and not (
        member.coded(RADICULAR_SPECIFIED))


def _choose_leader(pictures: list[Documented], members: list[Member], facts: EncounterRecord,
          terminology: Terminology) -> LowBackGroup:
    """Choose the group's leader and hand out the Conditions each card merges (see the module
    docstring): every merged Condition goes to one card only."""
    uncoded = [p for p in pictures if p.diagnosis.uncoded]
    host = next((p for family in ("disc", "radicular") for p in uncoded if p.family == family),
                None)
    coded_nonspecific = [p for p in pictures if p.old_codes]
    led: list[Diagnosis] = []
    if host is not None:
        led = [p.diagnosis for p in coded_nonspecific if speaking_family(p) != "injury"]
    elif not coded_nonspecific:
        host = next((p for p in uncoded if p.family == "nonspecific"), None)
    if host is not None:
        led_ids = {id(d) for d in led}
        for picture in pictures:
            if picture is not host and id(picture.diagnosis) in led_ids:
                _take_documentation(host, picture)
    # the coded Conditions a recoding merges: to the first card that recodes, never to two
    radicular_merge = [m.diagnosis for m in members if m.coded(SCIATICA)
                       and not m.coded(RADICULAR_SPECIFIED)]
    disc_merge = [m.diagnosis for m in members if m.coded(DISC_NO_PATTERN)
                  and not m.coded(DISC_SPECIFIED)]
    radicular_coded_apart = [
        m.diagnosis for m in members if m.coded(RADICULAR_SPECIFIED)
        and all(terminology.in_valueset(DORSALGIA, ICD10CM_SYSTEM, c) for c in m.diagnosis.coded)]
    speakers = [host] if host is not None else [p for p in coded_nonspecific]
    for speaker in speakers[:1]:
        me = speaker.diagnosis
        speaker.radicular.absorb = [d for d in radicular_merge if d is not me]
        speaker.disc.absorb = [d for d in disc_merge if d is not me]
        if speaker.disc.kinds:
            # radicular diagnoses coded apart merge into the disc code (M51.1 Excludes1 M54.16,
            # M54.3; M54.4 Excludes1 M51.1-)
            absorbed = {id(d) for d in speaker.disc.absorb}
            for d in radicular_merge + radicular_coded_apart:
                if d is not me and id(d) not in absorbed:
                    absorbed.add(id(d))
                    speaker.disc.absorb.append(d)
            speaker.disc.extra_codes += [c for c in speaker.radicular.extra_codes
                                         if c not in speaker.disc.extra_codes]
    merged_ids = {id(d) for d in radicular_merge}
    return LowBackGroup(pictures, host, led, radicular_merge + [
        d for d in radicular_coded_apart if id(d) not in merged_ids])


def _take_documentation(host: Documented, led: Documented) -> None:
    """The host speaks for the diagnoses it leads: what their notes document is its own."""
    host.radicular.kinds |= led.radicular.kinds
    host.disc.kinds |= led.disc.kinds
    host.radicular.regions |= led.radicular.regions
    host.disc.regions |= led.disc.regions
    sides = {s for s in (host.radicular.side, led.radicular.side) if s}
    host.radicular.side = one_side(sides | ({"right", "left"} if "bilateral" in sides
                                             else set()))
    host.back_pain = True
    host.vertebrogenic = host.vertebrogenic or led.vertebrogenic
    host.speaks_for.append(led)

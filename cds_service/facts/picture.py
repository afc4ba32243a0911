"""A low back diagnosis's *picture*: what the record documents about it (radicular features with
their side and level, a disc disorder with its level, an injury and its phase of care,
vertebrogenic pain, low back pain itself), and where each of those came from (its evidence).

Pictures are read before the rules run (``facts.documentation``), grouped and led
(``facts.low_back``); this module is their shape and the texts they are read from.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

from ..text import Reading
from .evidence import Evidence, Source, text_evidence, unique
from .model import Diagnosis, EncounterRecord

RADICULAR_TEXT = ("sciatica", "radiating_leg_pain", "radiculopathy")
SIDE_SUPPORT_TEXT = ("straight_leg_raise", "numbness", "tingling", "weakness")
MECHANISM_TEXT = ("lifting_injury", "fall", "other_injury")
DISC_TEXT = ("disc_displacement", "disc_degeneration")
LEVEL_TEXT = ("lumbar_level", "lumbosacral_level")
INJURY_TEXT = ("strain", "sprain", *MECHANISM_TEXT, "active_treatment", "subsequent_care")
# The evidence kept per family and picture: a card quotes a few, programs see them all.
EVIDENCE_LIMIT = 12
# the reader's concepts whose mentions are a family's evidence
FAMILY_TEXT = {
    "radicular": (*RADICULAR_TEXT, *SIDE_SUPPORT_TEXT),
    "disc": DISC_TEXT,
    "injury": INJURY_TEXT,
    "vertebrogenic": ("vertebrogenic",),
    "back_pain": ("low_back_pain",),
}


@dataclass
class Radicular:
    kinds: set[str] = field(default_factory=set)  # sciatica | radiating | radiculopathy
    side: str | None = None  # right | left | bilateral | None
    regions: set[str] = field(default_factory=set)  # lumbar | lumbosacral
    specified: bool = False  # already coded specifically on the encounter
    absorb: list[Diagnosis] = field(default_factory=list)  # other Conditions merged into ours
    extra_codes: list[str] = field(default_factory=list)  # our own codes merged as well

    @property
    def documented(self) -> bool:
        return bool(self.kinds) or self.specified


@dataclass
class Disc:
    kinds: set[str] = field(default_factory=set)  # displacement | degeneration
    regions: set[str] = field(default_factory=set)
    specified: bool = False
    absorb: list[Diagnosis] = field(default_factory=list)
    extra_codes: list[str] = field(default_factory=list)

    @property
    def documented(self) -> bool:
        return bool(self.kinds) or self.specified


@dataclass
class Injury:
    kinds: set[str] = field(default_factory=set)  # strain | sprain
    mechanism: bool = False  # lifting, a fall, other trauma, without the kind of injury
    subsequent: bool = False  # later care, healing phase: 7th character D
    active: bool = False  # active treatment documented: 7th character A
    healing: bool = False  # the note documents routine care in the healing or recovery phase
    specified: bool = False

    @property
    def explicit(self) -> bool:
        return bool(self.kinds) or self.specified

    @property
    def documented(self) -> bool:
        return self.explicit or self.mechanism


@dataclass
class Documented:
    """What the record documents about one diagnosis."""

    diagnosis: Diagnosis
    family: str  # the diagnosis's own family: nonspecific | radicular | disc | injury | other
    old_codes: tuple[str, ...]  # the coded nonspecific ICD-10-CM codes a suggestion replaces
    reading: Reading
    radicular: Radicular
    disc: Disc
    injury: Injury
    back_pain: bool  # low back pain itself is documented (for an uncoded sciatica or disc)
    vertebrogenic: bool
    # the Encounter the texts of ``reading`` include the reason and type of (for ``sources``)
    encounter: dict | None = field(default=None, repr=False)
    # the coded elements that document a family: (family, evidence); family "coded" for the
    # diagnosis's own codes
    coded_evidence: list[tuple[str, Evidence]] = field(default_factory=list)
    # the pictures of the diagnoses this one leads, whose documentation it speaks for
    speaks_for: list[Documented] = field(default_factory=list)
    # the picture this one is a copy of (the same codes, texts and evidence): its coded
    # evidence, with this diagnosis in place of that one, worked out only when asked for
    twin: Documented | None = field(default=None, repr=False)

    @cached_property
    def sources(self) -> tuple[Source, ...]:
        """The texts ``reading`` was read from, by resource and element (a mention's
        text_index); worked out only for the pictures a card quotes."""
        return sources_of(self.diagnosis, self.encounter)

    def evidence(self, family: str, limit: int = EVIDENCE_LIMIT) -> list[Evidence]:
        """Where what this diagnosis documents for ``family`` (radicular, disc, injury,
        vertebrogenic, back_pain) came from: the mentions the reading found (affirmed first,
        then those set aside), the diagnosis's own codes, and the coded elements that document
        the family; then the same for the diagnoses it leads. At most ``limit`` items."""
        items = self._evidence(family, limit)
        for led in self.speaks_for:
            items += led._evidence(family, limit)
        # the family's own words first (sciatica before the straight leg raise that gives its
        # side), then codes; the order of the text within each
        order = {concept: i for i, concept in enumerate(FAMILY_TEXT[family])}
        counted = sorted((e for e in items if e.counted),
                         key=lambda e: order.get(e.finding, len(order)) if e.kind == "text"
                         else len(order))
        return unique(counted + [e for e in items if not e.counted])[:limit]

    def _evidence(self, family: str, limit: int) -> list[Evidence]:
        concepts = FAMILY_TEXT[family]
        items = text_evidence(self.reading, self.sources, concepts, limit)
        if family in ("radicular", "disc"):
            sentences = {e.sentence_start for e in items if e.counted}
            items += [e for e in text_evidence(self.reading, self.sources, LEVEL_TEXT, limit)
                      if e.counted and e.sentence_start in sentences]
        items += [e for name, e in self._coded() if name in (family, "coded")]
        return items

    def _coded(self) -> list[tuple[str, Evidence]]:
        if self.twin is None:
            return self.coded_evidence
        mine, theirs = self.diagnosis.reference, self.twin.diagnosis.reference
        return [(name, replace(e, reference=mine) if e.reference == theirs else e)
                for name, e in self.twin._coded()
                if not (e.reference == mine and name != "coded")]


def texts_of(diagnosis: Diagnosis, facts: EncounterRecord) -> list[str]:
    """The texts a diagnosis is read from: its notes, code text and evidence, and the
    Encounter's reason and type, in the order of ``sources_of``, which names each (a
    mention's ``text_index`` is its index in both)."""
    return [*diagnosis.notes, diagnosis.code_text, *diagnosis.evidence_texts,
            *facts.encounter_reason_texts, *facts.encounter_type_texts]


def sources_of(diagnosis: Diagnosis, encounter: dict | None) -> tuple[Source, ...]:
    """Each text a diagnosis is read from, with the resource and element it is the value of: a
    mention's ``text_index`` is its index here."""
    condition = diagnosis.resource
    me = diagnosis.reference
    found = [Source(me, f"note[{i}].text", n["text"])
             for i, n in enumerate(condition.get("note", [])) if n.get("text")]
    found.append(Source(me, "code.text", diagnosis.code_text))
    for i, evidence in enumerate(condition.get("evidence", [])):
        found += _concept_sources(me, f"evidence[{i}].code", evidence.get("code", []))
    encounter = encounter or {}
    visit = f"Encounter/{encounter['id']}" if encounter.get("id") else None
    found += _concept_sources(visit, "reasonCode", encounter.get("reasonCode", []))
    found += [Source(visit, f"type[{i}].text", t["text"])
              for i, t in enumerate(encounter.get("type", [])) if t.get("text")]
    return tuple(found)


def _concept_sources(reference: str | None, element: str, concepts: list[dict]) -> list[Source]:
    """The texts of CodeableConcepts: each one's text, then its codings' displays."""
    found = []
    for i, concept in enumerate(concepts):
        if concept.get("text"):
            found.append(Source(reference, f"{element}[{i}].text", concept["text"]))
        found += [Source(reference, f"{element}[{i}].coding[{k}].display", c["display"])
                  for k, c in enumerate(concept.get("coding", [])) if c.get("display")]
    return found


def copy_picture(twin: Documented, diagnosis: Diagnosis) -> Documented:
    """Another diagnosis's picture, for one whose codes, texts and evidence are the same."""
    return Documented(
        diagnosis, twin.family, twin.old_codes, twin.reading,
        Radicular(set(twin.radicular.kinds), twin.radicular.side, set(twin.radicular.regions),
                  twin.radicular.specified, [], list(twin.radicular.extra_codes)),
        Disc(set(twin.disc.kinds), set(twin.disc.regions), twin.disc.specified, [],
             list(twin.disc.extra_codes)),
        Injury(set(twin.injury.kinds), twin.injury.mechanism, twin.injury.subsequent,
               twin.injury.active, twin.injury.healing, twin.injury.specified),
        twin.back_pain, twin.vertebrogenic, twin.encounter, twin=twin)

"""What the record documents about each low-back diagnosis, read once before the rules run.

For each diagnosis in the low back families (nonspecific low back pain coded in ICD-10-CM, and
every diagnosis coded only in SNOMED CT or WHO ICD-10 whose candidates fall in those families)
this gathers what makes the code more specific: radicular features (sciatica, radiating leg
pain, radiculopathy) with their side and level, a lumbar disc disorder with its level, an
injury and its phase of care, vertebrogenic pain, and whether low back pain itself is
documented. It reads the diagnosis's own texts and codes, its evidence, the Encounter's reason,
and the other diagnoses of the encounter:

- another diagnosis *coded* with the specific code means the encounter already says it
  (``specified``): nothing to suggest;
- another diagnosis coded with a code the specific one absorbs (sciatica M54.3- into lumbago
  with sciatica M54.4-, a degeneration code without its pain pattern into M51.36x) is merged;
- another diagnosis that is only *uncoded* (SNOMED CT) documents the finding, but is not a code
  on the claim: it never counts as specified (its candidate is not a coded fact).

Every other diagnosis's contribution is computed once per encounter and summed, so building the
pictures is linear in the number of diagnoses.

The group: one low back problem per encounter, and one diagnosis that leads it, so that two
cards never suggest different codes for the same Condition, nor delete each other's Condition.
An uncoded diagnosis of a specific family (disc, then radicular) leads when there is one: it
gets the ICD-10-CM code, and the coded nonspecific diagnoses merge into it (the suggestion
"codes that Condition and removes the other"). Otherwise each coded nonspecific diagnosis
speaks for itself, and an uncoded nonspecific one (SNOMED CT "low back pain") leads only where
no coded nonspecific diagnosis does.

The order of the families follows the ICD-10-CM index and the Official Guidelines' instruction to
code the condition to its highest specificity (Section I.B.2): an injury named as a strain or
sprain, then a disc disorder, then radicular features; an injury mechanism alone (a fall,
lifting) comes last, because a documented disc disorder or sciatica is a diagnosis and a
mechanism is not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cached_property

from ..terminology import ICD10CM_SYSTEM, Terminology
from ..text import Reading
from .evidence import Evidence, Source, code_evidence, text_evidence, unique
from .model import Code, Diagnosis, EncounterFacts, codings

NONSPECIFIC = "LowBackPainNonspecific"
SCIATICA = "SciaticaWithoutLumbago"
RADICULOPATHY = "LumbarRadiculopathy"
RADICULAR_SPECIFIED = "LumbarRadicularSpecified"
DISC_DISPLACEMENT = "LumbarDiscDisplacement"
DISC_DEGENERATION = "LumbarDiscDegeneration"
DISC_NO_PATTERN = "LumbarDiscDegenerationNoPainPattern"
DISC_SPECIFIED = "LumbarDiscSpecified"
INJURY = "LumbarInjury"
STRAIN = "LowerBackStrain"
SPRAIN = "LumbarSprain"
DORSALGIA = "Dorsalgia"

RADICULAR_TEXT = ("sciatica", "radiating_leg_pain", "radiculopathy")
SIDE_SUPPORT_TEXT = ("straight_leg_raise", "numbness", "tingling", "weakness")
MECHANISM_TEXT = ("lifting_injury", "fall", "other_injury")
DISC_TEXT = ("disc_displacement", "disc_degeneration")
LEVEL_TEXT = ("lumbar_level", "lumbosacral_level")
INJURY_TEXT = ("strain", "sprain", *MECHANISM_TEXT, "active_treatment", "subsequent_care")
# The evidence kept per family and picture: a card quotes a few, programs see them all.
EVIDENCE_LIMIT = 12
# The other diagnoses named as coded evidence of a picture: enough to show where a finding came
# from, and bounded so that an abnormal record (thousands of diagnoses) stays linear.
_CONTRIBUTORS = 4
# the reader's concepts whose mentions are a family's evidence
FAMILY_TEXT = {
    "radicular": (*RADICULAR_TEXT, *SIDE_SUPPORT_TEXT),
    "disc": DISC_TEXT,
    "injury": INJURY_TEXT,
    "vertebrogenic": ("vertebrogenic",),
    "back_pain": ("low_back_pain",),
}

_VALUESETS = (NONSPECIFIC, SCIATICA, RADICULOPATHY, RADICULAR_SPECIFIED, DISC_DISPLACEMENT,
              DISC_DEGENERATION, DISC_NO_PATTERN, DISC_SPECIFIED, INJURY, STRAIN, SPRAIN,
              DORSALGIA)


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

    @property
    def owner(self) -> str | None:
        """Which specificity family speaks for this diagnosis (see the module's docstring)."""
        if self.injury.explicit:
            return "injury"
        if self.disc.documented:
            return "disc"
        if self.radicular.documented:
            return "radicular"
        if self.injury.mechanism:
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


EMPTY_GROUP = LowBackGroup([], None, [], [])



# -- memberships -------------------------------------------------------------------------------
@dataclass
class _Member:
    """One diagnosis's membership of the low back ValueSets, by its coded ICD-10-CM codes and
    (for an uncoded one) by its SNOMED CT codes and candidates."""

    diagnosis: Diagnosis
    coded_in: dict[str, list[str]]  # ValueSet -> the coded codes in it
    documents: set[str]  # ValueSets its uncoded codes fall in
    words: list[str]  # its codes in words (displays, ICD-10-CM titles): for side and level

    def coded(self, valueset: str) -> bool:
        return bool(self.coded_in.get(valueset))


def _members(diagnoses: list[Diagnosis], terminology: Terminology) -> list[_Member]:
    """Every diagnosis's membership; diagnoses with the same codes share the work (an abnormal
    record repeats the same few codes thousands of times)."""
    known: dict[tuple, _Member] = {}
    members = []
    for diagnosis in diagnoses:
        key = (diagnosis.codes, diagnosis.candidates)
        model = known.get(key)
        if model is None:
            model = known[key] = _member(diagnosis, terminology)
        members.append(_Member(diagnosis, model.coded_in, model.documents, model.words))
    return members


def _member(diagnosis: Diagnosis, terminology: Terminology) -> _Member:
    store = terminology.store
    coded_in = {}
    for name in _VALUESETS:
        contains = store.valueset(name).contains
        inside = [c for c in diagnosis.coded if contains(ICD10CM_SYSTEM, c)]
        if inside:
            coded_in[name] = inside
    documents: set[str] = set()
    if diagnosis.uncoded:
        pairs = [(c.system, c.code) for c in diagnosis.codes]
        pairs += [(ICD10CM_SYSTEM, c) for c in diagnosis.candidates]
        for name in _VALUESETS:
            contains = store.valueset(name).contains
            if any(contains(s, c) for s, c in pairs):
                documents.add(name)
    words = [c.display or "" for c in diagnosis.codes]
    words += [terminology.icd.description(c, diagnosis.date_of_service) or ""
              for c in diagnosis.coded or diagnosis.candidates]
    return _Member(diagnosis, coded_in, documents, [w for w in words if w])


def _family(member: _Member) -> str:
    inside = set(member.coded_in) | member.documents
    if inside & {DISC_SPECIFIED, DISC_DISPLACEMENT, DISC_DEGENERATION, DISC_NO_PATTERN}:
        return "disc"
    if inside & {SCIATICA, RADICULOPATHY, RADICULAR_SPECIFIED}:
        return "radicular"
    if INJURY in inside:
        return "injury"
    if NONSPECIFIC in inside:
        return "nonspecific"
    return "other"


def _radicular_kinds(names: set[str]) -> set[str]:
    kinds = set()
    if SCIATICA in names:
        kinds.add("sciatica")
    if RADICULOPATHY in names or RADICULAR_SPECIFIED in names:
        kinds.add("radiculopathy")
    return kinds


def _disc_kinds(names: set[str]) -> set[str]:
    kinds = set()
    if DISC_DISPLACEMENT in names or DISC_SPECIFIED in names:
        kinds.add("displacement")
    if DISC_DEGENERATION in names or DISC_NO_PATTERN in names:
        kinds.add("degeneration")
    return kinds


@dataclass
class _Contribution:
    """What one other diagnosis adds to the pictures of the rest."""

    radicular_specified: bool = False
    disc_specified: bool = False
    injury_specified: bool = False
    back_pain: bool = False
    radicular_kinds: frozenset[str] = frozenset()
    disc_kinds: frozenset[str] = frozenset()
    sides: frozenset[str] = frozenset()
    radicular_regions: frozenset[str] = frozenset()
    disc_regions: frozenset[str] = frozenset()
    radicular_merge: bool = False  # a coded sciatica code, merged into the lumbago code
    disc_merge: bool = False  # a coded degeneration code without its pain pattern


class _Totals:
    """The sum of every diagnosis's contribution, so that "the others" of one diagnosis is the
    total minus its own, in constant time."""

    def __init__(self, contributions: Iterable[_Contribution]):
        self.flags: Counter[str] = Counter()
        self.values: dict[str, Counter[str]] = {
            name: Counter() for name in ("radicular_kinds", "disc_kinds", "sides",
                                         "radicular_regions", "disc_regions")}
        for item in contributions:
            self._add(item, 1)

    def _add(self, item: _Contribution, sign: int) -> None:
        for name in ("radicular_specified", "disc_specified", "injury_specified", "back_pain"):
            if getattr(item, name):
                self.flags[name] += sign
        for name, counter in self.values.items():
            for value in getattr(item, name):
                counter[value] += sign

    def without(self, item: _Contribution, name: str) -> bool | set[str]:
        if name in self.values:
            own = getattr(item, name)
            return {v for v, n in self.values[name].items() if n - (v in own) > 0}
        return self.flags[name] - bool(getattr(item, name)) > 0


# -- building ----------------------------------------------------------------------------------
def document_low_back(facts: EncounterFacts, terminology: Terminology) -> LowBackGroup:
    """The pictures of every low back diagnosis of the encounter, and the group's leader."""
    members = _members(facts.diagnoses, terminology)
    reader = terminology.text
    known: dict[tuple, _Contribution] = {}
    contributions = []
    for member in members:
        key = (id(member.coded_in), member.diagnosis.code_text)
        if key not in known:
            known[key] = _contribution(member, reader)
        contributions.append(known[key])
    totals = _Totals(contributions)
    shared_evidence = list(facts.encounter_reason_codes)
    shared_evidence_words = [_code_words(c, terminology) for c in shared_evidence]
    encounter_id = (facts.encounter or {}).get("id")
    shared_places = [(f"Encounter/{encounter_id}" if encounter_id else None, element)
                     for element, _ in _coded_elements((facts.encounter or {}).get(
                         "reasonCode", []), "reasonCode")]
    contributors = [(m.diagnosis, c) for m, c in zip(members, contributions, strict=True)
                    if _families_of(c)][:_CONTRIBUTORS + 1]

    pictures: list[Documented] = []
    earlier = _earlier_injuries(facts, terminology)
    seen_before: dict[tuple, Documented] = {}
    for member, own in zip(members, contributions, strict=True):
        diagnosis = member.diagnosis
        family = _family(member)
        nonspecific_coded = member.coded_in.get(NONSPECIFIC, [])
        if not (nonspecific_coded or member.coded(INJURY) or _coded_disc(member)
                or (diagnosis.uncoded and family != "other")):
            continue
        # the same codes, texts and evidence read the same: worked out once per request
        key = (id(member.coded_in), id(own), id(diagnosis.reading), diagnosis.evidence_codes,
               diagnosis.date_of_service, diagnosis.candidates)
        twin = seen_before.get(key)
        if twin is not None:
            pictures.append(_copy(twin, diagnosis))
            continue
        picture = _picture(facts, terminology, member, own, totals, family,
                           tuple(nonspecific_coded), shared_evidence, shared_evidence_words,
                           earlier, contributors, shared_places)
        seen_before[key] = picture
        pictures.append(picture)
    group = _lead(pictures, members, facts, terminology)
    group._by_id = {id(p.diagnosis): p for p in pictures}
    return group


def _coded_disc(member: _Member) -> bool:
    """Coded as a disc displacement or degeneration (M51.2-, M51.3-), not yet with
    radiculopathy (M51.1-)."""
    return (member.coded(DISC_DISPLACEMENT) or member.coded(DISC_DEGENERATION)) and not (
        member.coded(RADICULAR_SPECIFIED))


def _contribution(member: _Member, reader) -> _Contribution:
    coded = set(member.coded_in)
    radicular_kinds = _radicular_kinds(member.documents)
    disc_kinds = _disc_kinds(member.documents)
    radicular_merge = SCIATICA in coded and RADICULAR_SPECIFIED not in coded
    disc_merge = DISC_NO_PATTERN in coded and DISC_SPECIFIED not in coded
    if radicular_merge:
        radicular_kinds.add("sciatica")
    # a radiculopathy or lumbago-with-sciatica code on the record documents the nerve too
    if RADICULOPATHY in coded:
        radicular_kinds.add("radiculopathy")
    elif RADICULAR_SPECIFIED in coded and DORSALGIA in coded:
        radicular_kinds.add("sciatica")
    if disc_merge:
        disc_kinds.add("degeneration")
    sides: set[str] = set()
    radicular_regions: set[str] = set()
    disc_regions: set[str] = set()
    if radicular_kinds or disc_kinds:
        texts = list(member.words)
        if radicular_kinds:
            texts.append(member.diagnosis.code_text)
        words = reader.read(*texts)
        sides = words.sides(*RADICULAR_TEXT)
        regions = _regions_of_words(texts, reader)
        radicular_regions = regions if radicular_kinds else set()
        disc_regions = regions if disc_kinds else set()
    return _Contribution(
        radicular_specified=RADICULAR_SPECIFIED in coded,
        disc_specified=DISC_SPECIFIED in coded,
        injury_specified=INJURY in coded,
        back_pain=NONSPECIFIC in coded or NONSPECIFIC in member.documents,
        radicular_kinds=frozenset(radicular_kinds),
        disc_kinds=frozenset(disc_kinds),
        sides=frozenset(sides),
        radicular_regions=frozenset(radicular_regions),
        disc_regions=frozenset(disc_regions),
        radicular_merge=radicular_merge,
        disc_merge=disc_merge,
    )


def texts_of(diagnosis: Diagnosis, facts: EncounterFacts) -> list[str]:
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


def _copy(twin: Documented, diagnosis: Diagnosis) -> Documented:
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


def _earlier_injuries(facts: EncounterFacts, terminology: Terminology
                      ) -> list[tuple[Diagnosis, str]]:
    """The patient's earlier strain or sprain Conditions still active: (Condition, kind)."""
    strain = terminology.store.valueset(STRAIN).contains
    sprain = terminology.store.valueset(SPRAIN).contains
    found = []
    for earlier in facts.other_conditions:
        if not earlier.is_active:
            continue
        if any(strain(ICD10CM_SYSTEM, c) for c in earlier.coded):
            found.append((earlier, "strain"))
        elif any(sprain(ICD10CM_SYSTEM, c) for c in earlier.coded):
            found.append((earlier, "sprain"))
    return found


def _picture(facts, terminology, member: _Member, own: _Contribution, totals: _Totals,
             family: str, old_codes: tuple[str, ...], shared_evidence: list[Code],
             shared_evidence_words: list[list[str]],
             earlier: list[tuple[Diagnosis, str]],
             contributors: list[tuple[Diagnosis, _Contribution]] = (),
             shared_places: list[tuple[str | None, str]] = ()) -> Documented:
    diagnosis = member.diagnosis
    reader = terminology.text
    reading = diagnosis.reading or reader.read(*texts_of(diagnosis, facts))
    evidence = list(diagnosis.evidence_codes)
    evidence_words = [_code_words(c, terminology) for c in evidence] + shared_evidence_words
    evidence += shared_evidence
    evidence_in = [_evidence_in(c, terminology) for c in evidence]

    radicular, disc = Radicular(), Disc()
    radicular_texts: list[str] = []
    disc_texts: list[str] = []
    for concept, kind in (("sciatica", "sciatica"), ("radiating_leg_pain", "radiating"),
                          ("radiculopathy", "radiculopathy")):
        if reading.present(concept):
            radicular.kinds.add(kind)
    for concept, kind in (("disc_displacement", "displacement"),
                          ("disc_degeneration", "degeneration")):
        if reading.present(concept):
            disc.kinds.add(kind)
    for names, words in zip(evidence_in, evidence_words, strict=True):
        found = _radicular_kinds(names)
        if found:
            radicular.kinds |= found
            radicular_texts += words
        found = _disc_kinds(names)
        if found:
            disc.kinds |= found
            disc_texts += words
    # the diagnosis's own codes: a sciatica code beside the low back pain code, or, uncoded,
    # what its SNOMED CT concept says
    radicular.kinds |= own.radicular_kinds
    disc.kinds |= own.disc_kinds
    radicular.extra_codes = list(member.coded_in.get(SCIATICA, []))
    disc.extra_codes = list(member.coded_in.get(DISC_NO_PATTERN, []))
    if own.radicular_kinds or own.disc_kinds:
        radicular_texts += member.words
        disc_texts += member.words
    # the others, summed once for the encounter
    radicular.kinds |= totals.without(own, "radicular_kinds")
    disc.kinds |= totals.without(own, "disc_kinds")
    radicular.specified = bool(own.radicular_specified or totals.without(
        own, "radicular_specified"))
    disc.specified = bool(own.disc_specified or totals.without(own, "disc_specified"))

    coded_words = reader.read(*radicular_texts)
    sides = (reading.sides(*RADICULAR_TEXT) | coded_words.sides(*RADICULAR_TEXT)
             | totals.without(own, "sides"))
    if not sides:
        sides = reading.sides(*SIDE_SUPPORT_TEXT)
    radicular.side = _one_side(sides)
    radicular.regions = (_regions(reading, reading.sentences_with(*RADICULAR_TEXT))
                         | _regions_of_words(radicular_texts, reader)
                         | totals.without(own, "radicular_regions"))
    disc.regions = (_regions(reading, reading.sentences_with(*DISC_TEXT))
                    | _regions_of_words(disc_texts, reader)
                    | totals.without(own, "disc_regions"))

    injury = _injury(diagnosis, earlier, reading, evidence_in)
    injury.specified = bool(own.injury_specified or totals.without(own, "injury_specified"))
    back_pain = (bool(old_codes) or own.back_pain or bool(totals.without(own, "back_pain"))
                 or reading.present("low_back_pain"))
    picture = Documented(diagnosis, family, old_codes, reading, radicular, disc, injury,
                         back_pain, reading.present("vertebrogenic"),
                         encounter=facts.encounter)
    places = [(diagnosis.reference, element) for element, _ in _coded_elements(
        diagnosis.resource.get("evidence", []), "evidence", "code")] + list(shared_places)
    picture.coded_evidence = _coded_evidence(diagnosis, own, contributors, evidence,
                                             evidence_in, places, earlier)
    return picture


def _families_of(contribution: _Contribution) -> list[str]:
    """The families another diagnosis's codes document for the rest."""
    found = []
    if contribution.radicular_kinds or contribution.radicular_specified:
        found.append("radicular")
    if contribution.disc_kinds or contribution.disc_specified:
        found.append("disc")
    if contribution.injury_specified:
        found.append("injury")
    return found


def _coded_elements(items: list[dict], element: str, inner: str | None = None
                    ) -> list[tuple[str, Code]]:
    """Each coding of CodeableConcepts (``reasonCode``) or of a list of backbone elements
    holding them (``evidence[i].code``), with the element it is in, in the order of
    ``codings``."""
    found = []
    for i, item in enumerate(items):
        concepts = item.get(inner, []) if inner else [item]
        for j, concept in enumerate(concepts):
            place = f"{element}[{i}].{inner}[{j}]" if inner else f"{element}[{i}]"
            found += [(place, code) for code in codings([concept])]
    return found


def _coded_evidence(diagnosis: Diagnosis, own: _Contribution,
                    contributors: list[tuple[Diagnosis, _Contribution]], evidence: list[Code],
                    evidence_in: list[set[str]], places: list[tuple[str | None, str]],
                    earlier: list[tuple[Diagnosis, str]]) -> list[tuple[str, Evidence]]:
    """The coded elements behind a picture: its own codes, the evidence and reason codes that
    fall in a family, the other diagnoses whose codes document one, an earlier injury."""
    found = [("coded", code_evidence("coded", diagnosis.reference, "code", code))
             for code in diagnosis.codes]
    found += [(name, code_evidence("coded", diagnosis.reference, "code", code))
              for name in _families_of(own) for code in diagnosis.codes]
    for code, names, (reference, element) in zip(evidence, evidence_in, places, strict=True):
        for name, kinds in (("radicular", _radicular_kinds(names)),
                            ("disc", _disc_kinds(names)),
                            ("injury", names & {STRAIN, SPRAIN})):
            if kinds:
                found.append((name, code_evidence(sorted(kinds)[0], reference, element, code)))
    for other, contribution in contributors:
        if other is diagnosis:
            continue
        for name in _families_of(contribution):
            found += [(name, code_evidence("coded", other.reference, "code", code))
                      for code in other.codes]
    for other, kind in earlier[:_CONTRIBUTORS]:
        day = other.resource.get("onsetDateTime") or other.resource.get("recordedDate")
        found += [("injury", code_evidence(kind, other.reference, "code", code,
                                           day[:10] if isinstance(day, str) else None))
                  for code in other.codes]
    return found


def _lead(pictures: list[Documented], members: list[_Member], facts: EncounterFacts,
          terminology: Terminology) -> LowBackGroup:
    """Choose the group's leader and hand out the Conditions each card merges (see the module
    docstring): every merged Condition goes to one card only."""
    uncoded = [p for p in pictures if p.diagnosis.uncoded]
    host = next((p for family in ("disc", "radicular") for p in uncoded if p.family == family),
                None)
    coded_nonspecific = [p for p in pictures if p.old_codes]
    led: list[Diagnosis] = []
    if host is not None:
        led = [p.diagnosis for p in coded_nonspecific if p.owner != "injury"]
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
    host.radicular.side = _one_side(sides | ({"right", "left"} if "bilateral" in sides
                                             else set()))
    host.back_pain = True
    host.vertebrogenic = host.vertebrogenic or led.vertebrogenic
    host.speaks_for.append(led)


# -- pieces --------------------------------------------------------------------------------------
def _evidence_in(code: Code, terminology: Terminology) -> set[str]:
    """The low back ValueSets an evidence or reason code falls in (a SNOMED CT code directly,
    or through its candidates)."""
    store = terminology.store
    pairs = [(code.system, code.code)]
    if code.system != ICD10CM_SYSTEM:
        pairs += [(ICD10CM_SYSTEM, c) for c in terminology.candidate_codes([code])]
    return {name for name in _VALUESETS
            if any(store.valueset(name).contains(s, c) for s, c in pairs)}


def _code_words(code: Code, terminology: Terminology) -> list[str]:
    """A coding in words: its display and the titles of its ICD-10-CM code or candidates."""
    codes = [code.code] if code.system == ICD10CM_SYSTEM else terminology.candidate_codes([code])
    words = [code.display or ""] + [terminology.icd.description(c) or "" for c in codes]
    return [w for w in words if w]


def _injury(diagnosis: Diagnosis, earlier_injuries: list[tuple[Diagnosis, str]],
            reading: Reading, evidence_in: list[set[str]]) -> Injury:
    found = Injury()
    if reading.present("strain"):
        found.kinds.add("strain")
    if reading.present("sprain"):
        found.kinds.add("sprain")
    found.mechanism = reading.present(*MECHANISM_TEXT)
    for names in evidence_in:
        if STRAIN in names:
            found.kinds.add("strain")
        elif SPRAIN in names:
            found.kinds.add("sprain")
    for earlier, kind in earlier_injuries:
        if _before(earlier, diagnosis.date_of_service):
            found.kinds.add(kind)
            found.subsequent = True
    found.active = reading.present("active_treatment")
    found.healing = reading.present("subsequent_care") and not found.active
    if found.healing:
        found.subsequent = True
    return found


def _regions(reading: Reading, sentences: set[int]) -> set[str]:
    """lumbar / lumbosacral, from the level words in the sentences that state the finding."""
    regions = set()
    if reading.present_in(sentences, "lumbosacral_level"):
        regions.add("lumbosacral")
    if reading.present_in(sentences, "lumbar_level"):
        regions.add("lumbar")
    return regions


def _regions_of_words(texts: list[str], reader) -> set[str]:
    """lumbar / lumbosacral from the words of the codes a finding was coded with (a coded
    lumbar code says "lumbar region")."""
    regions = set()
    for text in texts:
        if not text:
            continue
        if reader.read(text).present("lumbosacral_level"):
            regions.add("lumbosacral")
        elif "lumbar" in text.lower():
            regions.add("lumbar")
    return regions


def _one_side(sides: set[str]) -> str | None:
    if "bilateral" in sides or {"right", "left"} <= sides:
        return "bilateral"
    if "right" in sides:
        return "right"
    if "left" in sides:
        return "left"
    return None


def _before(diagnosis: Diagnosis, day: date) -> bool:
    for key in ("onsetDateTime", "recordedDate"):
        value = diagnosis.resource.get(key)
        if isinstance(value, str) and len(value) >= 10:
            try:
                return date.fromisoformat(value[:10]) < day
            except ValueError:
                continue
    return True

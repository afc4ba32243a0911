"""What a low back pain visit documents, read once for the diagnosis rules.

For each nonspecific low back pain diagnosis on the encounter (ValueSet LowBackPainNonspecific)
this gathers what the record says about the three things that make the code more specific:
radicular features, a lumbar disc disorder, and an injury. Each can come from the free text
(the Condition's notes, its code text, its evidence, the Encounter's reason), from codes (the
Condition's evidence codes, the Encounter's reason codes, another Condition on the encounter),
and the injury also from an earlier injury Condition.

One rule speaks for each diagnosis (``Picture.owner``), so that two rules never suggest
different codes for the same Condition. The order follows coding-facts.md §6a ("encode as
ordered rules"): a documented injury (strain, sprain, an injury code), then a disc disorder,
then radicular features; an injury mechanism alone (a fall, lifting) without a named strain or
sprain comes last, because a documented disc disorder or sciatica is a diagnosis and a
mechanism is not.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from ..facts import Code, Diagnosis, EncounterFacts
from ..terminology import CANONICAL_BASE, ICD10CM_SYSTEM, ICD10CM_SYSTEMS, Terminology, normalize
from ..terminology.text import Reading
from ._fhir import clone, icd_coding, new_condition
from ._memo import per_request, request_memo

FINDING_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/lbp-documented-finding"
FINDING_MAP = "LbpDocumentedFindingToIcd10cm"

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
    specified: bool = False

    @property
    def explicit(self) -> bool:
        return bool(self.kinds) or self.specified

    @property
    def documented(self) -> bool:
        return self.explicit or self.mechanism


@dataclass
class Picture:
    diagnosis: Diagnosis
    old_codes: tuple[str, ...]  # the nonspecific ICD-10-CM codes a suggestion replaces
    reading: Reading
    radicular: Radicular
    disc: Disc
    injury: Injury

    @property
    def owner(self) -> str | None:
        if self.injury.explicit:
            return "injury"
        if self.disc.documented:
            return "disc"
        if self.radicular.documented:
            return "radicular"
        if self.injury.mechanism:
            return "injury"
        return None


# -- codes ---------------------------------------------------------------------------------
def diagnosis_codes(diagnosis: Diagnosis, terminology: Terminology) -> tuple[tuple[str, str], ...]:
    """(system, code) pairs of a diagnosis: its own codings and, for one coded only in SNOMED
    CT, the default ICD-10-CM codes of the SNOMED ConceptMap."""
    # kept on the diagnosis (it lives for one request): every rule asks for these
    memo = diagnosis.__dict__.setdefault("_codes_by_terminology", {})
    pairs = memo.get(id(terminology))
    if pairs is None:
        pairs = tuple((c.system, c.code) for c in diagnosis.codes)
        if not diagnosis.icd10cm:
            pairs += tuple((ICD10CM_SYSTEM, c) for c in terminology.icd10cm_codes(diagnosis.codes))
        memo[id(terminology)] = pairs
    return pairs


def codes_in(terminology: Terminology, valueset: str, codes: Iterable[Code]) -> bool:
    codes = list(codes)
    pairs = [(c.system, c.code) for c in codes]
    if not any(c.system == ICD10CM_SYSTEM for c in codes):
        pairs += [(ICD10CM_SYSTEM, c) for c in terminology.icd10cm_codes(codes)]
    return any(terminology.in_valueset(valueset, s, c) for s, c in pairs)


def in_set(terminology: Terminology, valueset: str, diagnosis: Diagnosis) -> bool:
    contains = terminology.store.valueset(valueset).contains
    return any(contains(s, c) for s, c in diagnosis_codes(diagnosis, terminology))


def icd_in(terminology: Terminology, valueset: str, diagnosis: Diagnosis) -> list[str]:
    """The diagnosis's own ICD-10-CM codes that are in ``valueset``."""
    return [c for c in diagnosis.icd10cm if terminology.in_valueset(valueset, ICD10CM_SYSTEM, c)]


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


@per_request
def encounter_icd(facts: EncounterFacts, terminology: Terminology) -> frozenset[str]:
    return frozenset(c for d in facts.diagnoses for s, c in diagnosis_codes(d, terminology)
                     if s == ICD10CM_SYSTEM)


# -- FHIR ----------------------------------------------------------------------------------
def replace_icd(diagnosis: Diagnosis, old: Iterable[str], new: str,
                terminology: Terminology) -> dict:
    """The whole Condition with the ICD-10-CM codings ``old`` replaced by the one code ``new``
    (appended when the Condition had no ICD-10-CM coding, e.g. SNOMED CT only)."""
    old = set(old)
    condition = clone(diagnosis.resource)
    concept = condition.setdefault("code", {})
    codings, placed = [], False
    for coding in concept.get("coding", []):
        is_old = (coding.get("system") in ICD10CM_SYSTEMS
                  and normalize(coding.get("code", "")) in old)
        if not is_old:
            codings.append(coding)
        elif not placed:
            codings.append(icd_coding(new, terminology, diagnosis.date_of_service))
            placed = True
    if not placed:
        codings.append(icd_coding(new, terminology, diagnosis.date_of_service))
    concept["coding"] = codings
    return condition


def without_icd(diagnosis: Diagnosis, code: str) -> dict | None:
    """The whole Condition without its ICD-10-CM coding ``code``; None when nothing would be
    left of its code."""
    condition = clone(diagnosis.resource)
    concept = condition.get("code") or {}
    codings = [c for c in concept.get("coding", [])
               if not (c.get("system") in ICD10CM_SYSTEMS
                       and normalize(c.get("code", "")) == code)]
    if not codings:
        return None
    concept["coding"] = codings
    return condition


# -- reading -------------------------------------------------------------------------------
def texts_of(diagnosis: Diagnosis, facts: EncounterFacts) -> list[str]:
    evidence_texts = []
    for evidence in diagnosis.resource.get("evidence", []):
        for concept in evidence.get("code", []):
            evidence_texts.append(concept.get("text") or "")
            evidence_texts.extend(c.get("display") or "" for c in concept.get("coding", []))
    encounter_types = [t.get("text") or "" for t in (facts.encounter or {}).get("type", [])]
    return [*diagnosis.notes, diagnosis.code_text, *evidence_texts,
            *facts.encounter_reason_texts, *encounter_types]


def code_descriptions(diagnosis: Diagnosis, terminology: Terminology) -> list[str]:
    """What a coded diagnosis says in words: its ICD-10-CM descriptions and coding displays."""
    texts = [c.display or "" for c in diagnosis.codes]
    texts += [terminology.icd.description(c, diagnosis.date_of_service) or ""
              for s, c in diagnosis_codes(diagnosis, terminology) if s == ICD10CM_SYSTEM]
    return [t for t in texts if t]


def _words(code: Code, terminology: Terminology) -> list[str]:
    """A coding in words: its display and the description of its ICD-10-CM code(s)."""
    words = [code.display or ""]
    words += [terminology.icd.description(c) or "" for c in terminology.icd10cm_codes([code])]
    return [w for w in words if w]


@per_request
def nonspecific_diagnoses(facts: EncounterFacts, terminology: Terminology
                          ) -> tuple[Diagnosis, ...]:
    return tuple(d for d in facts.diagnoses if in_set(terminology, NONSPECIFIC, d))


def reading_of(diagnosis: Diagnosis, facts: EncounterFacts, terminology: Terminology) -> Reading:
    """What the diagnosis's texts (notes, code text, evidence, the Encounter's reason) say."""
    memo = request_memo(facts)
    key = ("reading", id(diagnosis))
    if key not in memo:
        memo[key] = terminology.text.read(*texts_of(diagnosis, facts))
    return memo[key]


def picture(diagnosis: Diagnosis, facts: EncounterFacts, terminology: Terminology) -> Picture:
    memo = request_memo(facts)
    key = ("picture", id(diagnosis))
    if key not in memo:
        memo[key] = _picture(diagnosis, facts, terminology)
    return memo[key]


def owned_pictures(facts: EncounterFacts, terminology: Terminology, owner: str | None
                   ) -> Iterator[Picture]:
    """The pictures of the nonspecific diagnoses that the rule of ``owner`` speaks for."""
    for diagnosis in nonspecific_diagnoses(facts, terminology):
        seen = picture(diagnosis, facts, terminology)
        if seen.owner == owner:
            yield seen


def offered_params(seen: Picture, suggestions: list) -> dict:
    """The card parameters every specificity rule shares: the code replaced, the date of
    service, and the codes offered, the first one first."""
    return {
        "code": seen.old_codes[0] if seen.old_codes else "",
        "date": seen.diagnosis.date_of_service.isoformat(),
        "first": suggestions[0].params["new"],
        "codes": [(s.params["new"], s.params["display"]) for s in suggestions],
    }


def _picture(diagnosis: Diagnosis, facts: EncounterFacts, terminology: Terminology) -> Picture:
    reading = reading_of(diagnosis, facts, terminology)
    others = [d for d in facts.diagnoses if d is not diagnosis]
    evidence = list(diagnosis.evidence_codes) + list(facts.encounter_reason_codes)
    old = tuple(c for c in diagnosis.icd10cm
                if terminology.in_valueset(NONSPECIFIC, ICD10CM_SYSTEM, c))
    radicular = _radicular(diagnosis, others, evidence, reading, terminology)
    disc = _disc(diagnosis, others, evidence, reading, radicular, terminology)
    injury = _injury(diagnosis, facts, others, evidence, reading, terminology)
    return Picture(diagnosis, old, reading, radicular, disc, injury)


@dataclass(frozen=True)
class _Family:
    """Where a family of more specific diagnoses shows in the record (ValueSet names)."""

    text_kinds: tuple[tuple[str, str], ...]  # (concept of the free text, kind found)
    code_kinds: tuple[tuple[str, str], ...]  # (ValueSet of an evidence code, kind), first wins
    merged: tuple[str, str]  # (ValueSet of codes merged into ours, on our Condition or another)
    specified: str  # ValueSet of codes that already say it: nothing to suggest
    merged_code_text: bool  # a merged Condition's code text also tells the side or region


_RADICULAR = _Family(
    text_kinds=(("sciatica", "sciatica"), ("radiating_leg_pain", "radiating"),
                ("radiculopathy", "radiculopathy")),
    code_kinds=((SCIATICA, "sciatica"), (RADICULOPATHY, "radiculopathy")),
    merged=(SCIATICA, "sciatica"), specified=RADICULAR_SPECIFIED, merged_code_text=True)
_DISC = _Family(
    text_kinds=(("disc_displacement", "displacement"), ("disc_degeneration", "degeneration")),
    code_kinds=((DISC_DISPLACEMENT, "displacement"), (DISC_DEGENERATION, "degeneration")),
    merged=(DISC_NO_PATTERN, "degeneration"), specified=DISC_SPECIFIED, merged_code_text=False)


def _gather(found: Radicular | Disc, family: _Family, diagnosis, others, evidence,
            reading: Reading, terminology) -> list[str]:
    """Fill ``found`` from the text, the evidence codes, our own codes and the other
    Conditions; return the words of the codes it was found in (for the side and region)."""
    texts: list[str] = []
    for concept, kind in family.text_kinds:
        if reading.present(concept):
            found.kinds.add(kind)
    for code in evidence:
        kind = next((k for valueset, k in family.code_kinds
                     if codes_in(terminology, valueset, [code])), None)
        if kind:
            found.kinds.add(kind)
            texts += _words(code, terminology)
    merged, merged_kind = family.merged
    # our own Condition may carry such a code beside the low back pain code
    found.extra_codes = icd_in(terminology, merged, diagnosis)
    if found.extra_codes:
        found.kinds.add(merged_kind)
        texts += [terminology.icd.description(c, diagnosis.date_of_service) or ""
                  for c in found.extra_codes]
    for other in others:
        if in_set(terminology, family.specified, other):
            found.specified = True
        elif in_set(terminology, merged, other):
            found.kinds.add(merged_kind)
            found.absorb.append(other)
            texts += code_descriptions(other, terminology)
            if family.merged_code_text:
                texts.append(other.code_text)
    if in_set(terminology, family.specified, diagnosis):
        found.specified = True
    return [t for t in texts if t]


def _radicular(diagnosis, others, evidence, reading: Reading, terminology) -> Radicular:
    found = Radicular()
    side_texts = _gather(found, _RADICULAR, diagnosis, others, evidence, reading, terminology)
    coded = terminology.text.read(*side_texts)
    sides = reading.sides(*RADICULAR_TEXT) | coded.sides(*RADICULAR_TEXT)
    if not sides:
        sides = reading.sides(*SIDE_SUPPORT_TEXT)
    found.side = _one_side(sides)
    found.regions = _regions(reading, reading.sentences_with(*RADICULAR_TEXT), side_texts,
                             terminology.text)
    return found


def _disc(diagnosis, others, evidence, reading: Reading, radicular: Radicular,
          terminology) -> Disc:
    found = Disc()
    region_texts = _gather(found, _DISC, diagnosis, others, evidence, reading, terminology)
    if found.kinds:
        # radicular diagnoses coded apart are merged into the disc code (M51.1- Excludes1)
        found.absorb += [o for o in radicular.absorb if o not in found.absorb]
        found.absorb += [o for o in others if o not in found.absorb
                         and in_set(terminology, RADICULAR_SPECIFIED, o)
                         and all(terminology.in_valueset(DORSALGIA, ICD10CM_SYSTEM, c)
                                 for c in o.icd10cm or terminology.icd10cm_codes(o.codes))]
        found.extra_codes += [c for c in radicular.extra_codes if c not in found.extra_codes]
    found.regions = _regions(reading, reading.sentences_with("disc_displacement",
                                                              "disc_degeneration"),
                             region_texts, terminology.text)
    return found


def _regions(reading: Reading, sentences: set[int], coded_texts: list[str], reader) -> set[str]:
    """lumbar / lumbosacral, from the level words in the sentences that state the finding, and
    from the words of the codes it was coded with (a coded lumbar code says "lumbar region")."""
    regions = set()
    if reading.present_in(sentences, "lumbosacral_level"):
        regions.add("lumbosacral")
    if reading.present_in(sentences, "lumbar_level"):
        regions.add("lumbar")
    for text in coded_texts:
        if reader.read(text).present("lumbosacral_level"):
            regions.add("lumbosacral")
        elif "lumbar" in text.lower():
            regions.add("lumbar")
    return regions


def _injury(diagnosis, facts: EncounterFacts, others, evidence, reading: Reading,
            terminology) -> Injury:
    found = Injury()
    if reading.present("strain"):
        found.kinds.add("strain")
    if reading.present("sprain"):
        found.kinds.add("sprain")
    found.mechanism = reading.present(*MECHANISM_TEXT)
    for code in evidence:
        if codes_in(terminology, STRAIN, [code]):
            found.kinds.add("strain")
        elif codes_in(terminology, SPRAIN, [code]):
            found.kinds.add("sprain")
    if any(in_set(terminology, INJURY, d) for d in [diagnosis, *others]):
        found.specified = True
    for earlier in facts.other_conditions:
        if not earlier.is_active or not _before(earlier, diagnosis.date_of_service):
            continue
        if in_set(terminology, STRAIN, earlier):
            found.kinds.add("strain")
            found.subsequent = True
        elif in_set(terminology, SPRAIN, earlier):
            found.kinds.add("sprain")
            found.subsequent = True
    if reading.present("subsequent_care"):
        found.subsequent = True
    return found


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



# -- suggestions ---------------------------------------------------------------------------
def code_change(label: str, facts: EncounterFacts, diagnosis: Diagnosis, old: list[str],
                new: str, terminology: Terminology, absorb: Iterable[Diagnosis] = (),
                also: str | None = None):
    """A suggestion that recodes ``diagnosis``: an ``update`` carrying the whole Condition with
    its ``old`` ICD-10-CM codes replaced by ``new``; a ``create`` for ``also`` (the second code
    of a pair, e.g. the left side when both sides are affected); a ``delete`` for each other
    Condition whose content the new code takes over. Wording keys of the rule's template:
    labels.<label>, actions.replace / add_code / create_also / remove_merged."""
    from . import Action, Suggestion

    icd = terminology.icd
    absorb = [d for d in absorb if d.reference]
    actions = [Action("update", "replace" if old else "add_code",
                      resource=replace_icd(diagnosis, old, new, terminology))]
    if also:
        actions.append(Action("create", "create_also",
                              resource=new_condition(facts, also, terminology, diagnosis)))
    actions += [Action("delete", "remove_merged", resource_id=d.reference) for d in absorb]
    return Suggestion(label, actions, params={
        "old": ", ".join(old),
        "new": new,
        "display": icd.description(new, diagnosis.date_of_service) or new,
        "also": also or "",
        "also_display": (icd.description(also, diagnosis.date_of_service) or also)
        if also else "",
        "merged": ", ".join(_names(d, terminology) for d in absorb),
    })


def _names(diagnosis: Diagnosis, terminology: Terminology) -> str:
    """How a card names a diagnosis: its ICD-10-CM codes, else its text or SNOMED CT display."""
    if diagnosis.icd10cm:
        return ", ".join(diagnosis.icd10cm)
    displays = [c.display for c in diagnosis.codes if c.display]
    return diagnosis.code_text or (displays[0] if displays else "") or ", ".join(
        f"SNOMED CT {c}" for c in diagnosis.snomed) or "(uncoded)"

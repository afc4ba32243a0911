"""Reading one low back diagnosis's documentation into its picture.

It reads the diagnosis's own texts and codes, its evidence, the Encounter's reason, and what the
other diagnoses of the encounter contribute (``facts.contributions``):

- another diagnosis *coded* with the specific code means the encounter already says it
  (``specified``): nothing to suggest;
- another diagnosis coded with a code the specific one absorbs (sciatica M54.3- into lumbago
  with sciatica M54.4-, a degeneration code without its pain pattern into M51.36x) is merged;
- another diagnosis that is only *uncoded* (SNOMED CT) documents the finding, but is not a code
  on the claim: it never counts as specified (its candidate is not a coded fact).
"""

from __future__ import annotations

from datetime import date

from ..terminology import ICD10CM_SYSTEM, Terminology
from ..text import Reading
from .contributions import CONTRIBUTORS, Contribution, Totals, families_of
from .evidence import Evidence, code_evidence
from .levels import one_side, regions_in, regions_of_words
from .membership import (
    DISC_NO_PATTERN,
    SCIATICA,
    SPRAIN,
    STRAIN,
    Member,
    code_valuesets,
    code_words,
    disc_kinds_in,
    radicular_kinds_in,
)
from .model import Code, Diagnosis, EncounterRecord, codings
from .picture import (
    DISC_TEXT,
    MECHANISM_TEXT,
    RADICULAR_TEXT,
    SIDE_SUPPORT_TEXT,
    Disc,
    Documented,
    Injury,
    Radicular,
    texts_of,
)


def earlier_injuries(facts: EncounterRecord, terminology: Terminology
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


def picture_of(facts, terminology, member: Member, own: Contribution, totals: Totals,
             family: str, old_codes: tuple[str, ...], shared_evidence: list[Code],
             shared_evidence_words: list[list[str]],
             earlier: list[tuple[Diagnosis, str]],
             contributors: list[tuple[Diagnosis, Contribution]] = (),
             shared_places: list[tuple[str | None, str]] = ()) -> Documented:
    diagnosis = member.diagnosis
    reader = terminology.text
    reading = diagnosis.reading or reader.read(*texts_of(diagnosis, facts))
    evidence = list(diagnosis.evidence_codes)
    evidence_words = [code_words(c, terminology) for c in evidence] + shared_evidence_words
    evidence += shared_evidence
    evidence_in = [code_valuesets(c, terminology) for c in evidence]

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
        found = radicular_kinds_in(names)
        if found:
            radicular.kinds |= found
            radicular_texts += words
        found = disc_kinds_in(names)
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
    radicular.side = one_side(sides)
    radicular.regions = (regions_in(reading, reading.sentences_with(*RADICULAR_TEXT))
                         | regions_of_words(radicular_texts, reader)
                         | totals.without(own, "radicular_regions"))
    disc.regions = (regions_in(reading, reading.sentences_with(*DISC_TEXT))
                    | regions_of_words(disc_texts, reader)
                    | totals.without(own, "disc_regions"))

    injury = _injury(diagnosis, earlier, reading, evidence_in)
    injury.specified = bool(own.injury_specified or totals.without(own, "injury_specified"))
    back_pain = (bool(old_codes) or own.back_pain or bool(totals.without(own, "back_pain"))
                 or reading.present("low_back_pain"))
    picture = Documented(diagnosis, family, old_codes, reading, radicular, disc, injury,
                         back_pain, reading.present("vertebrogenic"),
                         encounter=facts.encounter)
    places = [(diagnosis.reference, element) for element, _ in coded_elements(
        diagnosis.resource.get("evidence", []), "evidence", "code")] + list(shared_places)
    picture.coded_evidence = _coded_evidence(diagnosis, own, contributors, evidence,
                                             evidence_in, places, earlier)
    return picture


def coded_elements(items: list[dict], element: str, inner: str | None = None
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


def _coded_evidence(diagnosis: Diagnosis, own: Contribution,
                    contributors: list[tuple[Diagnosis, Contribution]], evidence: list[Code],
                    evidence_in: list[set[str]], places: list[tuple[str | None, str]],
                    earlier: list[tuple[Diagnosis, str]]) -> list[tuple[str, Evidence]]:
    """The coded elements behind a picture: its own codes, the evidence and reason codes that
    fall in a family, the other diagnoses whose codes document one, an earlier injury."""
    found = [("coded", code_evidence("coded", diagnosis.reference, "code", code))
             for code in diagnosis.codes]
    found += [(name, code_evidence("coded", diagnosis.reference, "code", code))
              for name in families_of(own) for code in diagnosis.codes]
    for code, names, (reference, element) in zip(evidence, evidence_in, places, strict=True):
        for name, kinds in (("radicular", radicular_kinds_in(names)),
                            ("disc", disc_kinds_in(names)),
                            ("injury", names & {STRAIN, SPRAIN})):
            if kinds:
                found.append((name, code_evidence(sorted(kinds)[0], reference, element, code)))
    for other, contribution in contributors:
        if other is diagnosis:
            continue
        for name in families_of(contribution):
            found += [(name, code_evidence("coded", other.reference, "code", code))
                      for code in other.codes]
    for other, kind in earlier[:CONTRIBUTORS]:
        day = other.resource.get("onsetDateTime") or other.resource.get("recordedDate")
        found += [("injury", code_evidence(kind, other.reference, "code", code,
                                           day[:10] if isinstance(day, str) else None))
                  for code in other.codes]
    return found


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


def _before(diagnosis: Diagnosis, day: date) -> bool:
    for key in ("onsetDateTime", "recordedDate"):
        value = diagnosis.resource.get(key)
        if isinstance(value, str) and len(value) >= 10:
            try:
                return date.fromisoformat(value[:10]) < day
            except ValueError:
                continue
    return True

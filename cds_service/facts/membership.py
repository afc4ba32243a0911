"""Which low back ValueSets each diagnosis, and each evidence or reason code, falls in.

A diagnosis is a member by its coded ICD-10-CM codes and, for one coded only in SNOMED CT or WHO
ICD-10, by its own codes and candidates (what it *documents*, never what is on the claim). The
ValueSets are data in ``valuesets/``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..terminology import ICD10CM_SYSTEM, Terminology
from .model import Code, Diagnosis

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

LOW_BACK_VALUESETS = (NONSPECIFIC, SCIATICA, RADICULOPATHY, RADICULAR_SPECIFIED, DISC_DISPLACEMENT,
              DISC_DEGENERATION, DISC_NO_PATTERN, DISC_SPECIFIED, INJURY, STRAIN, SPRAIN,
              DORSALGIA)


@dataclass
class Member:
    """One diagnosis's membership of the low back ValueSets, by its coded ICD-10-CM codes and
    (for an uncoded one) by its SNOMED CT codes and candidates."""

    diagnosis: Diagnosis
    coded_in: dict[str, list[str]]  # ValueSet -> the coded codes in it
    documents: set[str]  # ValueSets its uncoded codes fall in
    words: list[str]  # its codes in words (displays, ICD-10-CM titles): for side and level

    def coded(self, valueset: str) -> bool:
        return bool(self.coded_in.get(valueset))


def members_of(diagnoses: list[Diagnosis], terminology: Terminology) -> list[Member]:
    """Every diagnosis's membership; diagnoses with the same codes share the work (an abnormal
    record repeats the same few codes thousands of times)."""
    known: dict[tuple, Member] = {}
    members = []
    for diagnosis in diagnoses:
        key = (diagnosis.codes, diagnosis.candidates)
        model = known.get(key)
        if model is None:
            model = known[key] = _member(diagnosis, terminology)
        members.append(Member(diagnosis, model.coded_in, model.documents, model.words))
    return members


def _member(diagnosis: Diagnosis, terminology: Terminology) -> Member:
    store = terminology.store
    coded_in = {}
    for name in LOW_BACK_VALUESETS:
        contains = store.valueset(name).contains
        inside = [c for c in diagnosis.coded if contains(ICD10CM_SYSTEM, c)]
        if inside:
            coded_in[name] = inside
    documents: set[str] = set()
    if diagnosis.uncoded:
        pairs = [(c.system, c.code) for c in diagnosis.codes]
        pairs += [(ICD10CM_SYSTEM, c) for c in diagnosis.candidates]
        for name in LOW_BACK_VALUESETS:
            contains = store.valueset(name).contains
            if any(contains(s, c) for s, c in pairs):
                documents.add(name)
    words = [c.display or "" for c in diagnosis.codes]
    words += [terminology.icd.description(c, diagnosis.date_of_service) or ""
              for c in diagnosis.coded or diagnosis.candidates]
    return Member(diagnosis, coded_in, documents, [w for w in words if w])


def family_of(member: Member) -> str:
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


def radicular_kinds_in(names: set[str]) -> set[str]:
    kinds = set()
    if SCIATICA in names:
        kinds.add("sciatica")
    if RADICULOPATHY in names or RADICULAR_SPECIFIED in names:
        kinds.add("radiculopathy")
    return kinds


def disc_kinds_in(names: set[str]) -> set[str]:
    kinds = set()
    if DISC_DISPLACEMENT in names or DISC_SPECIFIED in names:
        kinds.add("displacement")
    if DISC_DEGENERATION in names or DISC_NO_PATTERN in names:
        kinds.add("degeneration")
    return kinds


def code_valuesets(code: Code, terminology: Terminology) -> set[str]:
    """The low back ValueSets an evidence or reason code falls in (a SNOMED CT code directly,
    or through its candidates)."""
    store = terminology.store
    pairs = [(code.system, code.code)]
    if code.system != ICD10CM_SYSTEM:
        pairs += [(ICD10CM_SYSTEM, c) for c in terminology.candidate_codes([code])]
    return {name for name in LOW_BACK_VALUESETS
            if any(store.valueset(name).contains(s, c) for s, c in pairs)}


def code_words(code: Code, terminology: Terminology) -> list[str]:
    """A coding in words: its display and the titles of its ICD-10-CM code or candidates."""
    codes = [code.code] if code.system == ICD10CM_SYSTEM else terminology.candidate_codes([code])
    words = [code.display or ""] + [terminology.icd.description(c) or "" for c in codes]
    return [w for w in words if w]

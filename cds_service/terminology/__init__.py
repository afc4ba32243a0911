"""Terminology: ICD-10-CM (validity on a date of service, hierarchy, Excludes1), and the
ValueSets / ConceptMaps kept as FHIR data in ``valuesets/``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..data_files import data_dir
from . import codeset
from .icd10cm import ICD10CM_RELEASE, ICD10CM_SYSTEM, ICD10CM_SYSTEMS, Icd10cm, normalize
from .text import Reading, TextReader
from .valuesets import (
    CANONICAL_BASE,
    SOPT_SYSTEM,
    SOPT_SYSTEMS,
    MapTarget,
    TerminologyError,
    ValueSetStore,
)

SNOMED_SYSTEM = "http://snomed.info/sct"
# WHO ICD-10 (not the US clinical modification): valid codes, but not codes a US claim carries
ICD10_WHO_SYSTEM = "http://hl7.org/fhir/sid/icd-10"
# Coding systems as FHIR names them, by the other URIs (HL7 OIDs) that EHRs also send.
SYSTEM_ALIASES = {
    "urn:oid:2.16.840.1.113883.6.90": ICD10CM_SYSTEM,
    "urn:oid:2.16.840.1.113883.6.96": SNOMED_SYSTEM,
    "urn:oid:2.16.840.1.113883.6.3": ICD10_WHO_SYSTEM,
}
CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
HCPCS_SYSTEM = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
SNOMED_MAP = "SnomedLowBackToIcd10cm"
WHO_ICD10_MAP = "Icd10WhoLowBackToIcd10cm"
# the ConceptMap that gives ICD-10-CM candidates for a coding in each other system
_CANDIDATE_MAPS = {SNOMED_SYSTEM: SNOMED_MAP, ICD10_WHO_SYSTEM: WHO_ICD10_MAP}
PROCEDURE_SYSTEMS = frozenset({CPT_SYSTEM, HCPCS_SYSTEM, "urn:oid:2.16.840.1.113883.6.285",
                               "urn:oid:2.16.840.1.113883.6.12",
                               "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"})


class Terminology:
    """What the rules look codes up in. Built once per process, read-only afterwards."""

    def __init__(self, directory: Path | None = None):
        self.store = ValueSetStore(directory or data_dir("valuesets"))
        codeset.load()  # once, here: before a pre-forking server forks its workers
        self.icd = Icd10cm(self.store.billable_periods)
        # free-text trigger terms, kept beside the ValueSets (not FHIR, so in a subfolder)
        self.text = TextReader(self.store.directory / "text-triggers")

    def in_valueset(self, name_or_url: str, system: str | None, code: str | None) -> bool:
        return self.store.in_valueset(name_or_url, system, code)

    def translate(self, name_or_url: str, system: str, code: str) -> list[MapTarget]:
        return self.store.translate(name_or_url, system, code)

    def display(self, system: str, code: str) -> str | None:
        """A concept's display, as the ConceptMaps name their source concepts."""
        return self.store.source_displays.get((system, code))

    def candidate_codes(self, codes) -> tuple[str, ...]:
        """ICD-10-CM *candidates* for codings in other systems (SNOMED CT, WHO ICD-10): the
        default code each ConceptMap gives for the concept when nothing more is documented.
        A candidate is what the claim would carry once someone codes it, never a coded fact."""
        mapped: list[str] = []
        for coding in codes:
            map_name = _CANDIDATE_MAPS.get(coding.system)
            if map_name is None:
                continue
            code = normalize(coding.code) if coding.system == ICD10_WHO_SYSTEM else coding.code
            for target in self.translate(map_name, coding.system, code):
                if (target.system == ICD10CM_SYSTEM and target.code
                        and target.code not in mapped):
                    mapped.append(target.code)
        return tuple(mapped)


@lru_cache(maxsize=1)
def get_terminology() -> Terminology:
    return Terminology()


__all__ = [
    "CANONICAL_BASE",
    "CPT_SYSTEM",
    "HCPCS_SYSTEM",
    "ICD10_WHO_SYSTEM",
    "ICD10CM_RELEASE",
    "ICD10CM_SYSTEM",
    "ICD10CM_SYSTEMS",
    "PROCEDURE_SYSTEMS",
    "SNOMED_MAP",
    "WHO_ICD10_MAP",
    "SNOMED_SYSTEM",
    "SYSTEM_ALIASES",
    "SOPT_SYSTEM",
    "SOPT_SYSTEMS",
    "Icd10cm",
    "MapTarget",
    "Reading",
    "Terminology",
    "TextReader",
    "TerminologyError",
    "get_terminology",
    "normalize",
]

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
# Coding systems as FHIR names them, by the other URIs (HL7 OIDs) that EHRs also send.
SYSTEM_ALIASES = {
    "urn:oid:2.16.840.1.113883.6.90": ICD10CM_SYSTEM,
    "urn:oid:2.16.840.1.113883.6.96": SNOMED_SYSTEM,
}
CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
HCPCS_SYSTEM = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
SNOMED_MAP = "SnomedLowBackToIcd10cm"
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

    def icd10cm_codes(self, codes) -> tuple[str, ...]:
        """The ICD-10-CM codes a diagnosis carries; for one coded only in SNOMED CT, the
        default ICD-10-CM codes the SNOMED ConceptMap gives for its concepts."""
        icd = tuple(c.code for c in codes if c.system == ICD10CM_SYSTEM)
        if icd:
            return icd
        mapped = []
        for coding in codes:
            if coding.system == SNOMED_SYSTEM:
                for target in self.translate(SNOMED_MAP, SNOMED_SYSTEM, coding.code):
                    if target.code and target.code not in mapped:
                        mapped.append(target.code)
        return tuple(mapped)


@lru_cache(maxsize=1)
def get_terminology() -> Terminology:
    return Terminology()


__all__ = [
    "CANONICAL_BASE",
    "CPT_SYSTEM",
    "HCPCS_SYSTEM",
    "ICD10CM_RELEASE",
    "ICD10CM_SYSTEM",
    "ICD10CM_SYSTEMS",
    "PROCEDURE_SYSTEMS",
    "SNOMED_MAP",
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

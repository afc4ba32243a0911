"""Terminology: ICD-10-CM (validity on a date of service, hierarchy, Excludes1), and the
ValueSets / ConceptMaps kept as FHIR data in ``valuesets/``.

The face of the package: the ``Terminology`` the rules look codes up in, the process's shared
instance (``get_terminology``), and the coding systems' names. The data folder that holds the
loaded ICD-10-CM releases (CDS_DATA_DIR) is given by the caller: this package reads no settings.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path

from .. import data_files
from ..text import TextReader
from . import codeset, release_store
from .icd10cm import ICD10CM_RELEASE, ICD10CM_SYSTEM, ICD10CM_SYSTEMS, Icd10cm, normalize
from .releases import ReleaseSet, bundled_release, fiscal_year_of
from .valuesets import (
    CANONICAL_BASE,
    SOPT_SYSTEM,
    SOPT_SYSTEMS,
    MapTarget,
    TerminologyError,
    ValueSetStore,
)

log = logging.getLogger(__name__)

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
    """What the rules look codes up in. Built once per process, read-only afterwards.

    ``directory``: the ValueSets (default: those shipped); ``releases_dir``: the folder of the
    ICD-10-CM releases an operator loaded (``release_store.store_dir``; None: the bundled
    release only)."""

    def __init__(self, directory: Path | None = None, releases_dir: Path | None = None):
        self.store = ValueSetStore(directory) if directory else shipped_valuesets()
        codeset.load()  # once, here: before a pre-forking server forks its workers
        # ICD-10-CM releases an operator loaded (`cds-service codeset add`), under CDS_DATA_DIR
        self.releases_dir = releases_dir
        self._releases_seen: tuple = ()
        self._releases_lock = threading.Lock()
        self.icd = Icd10cm(self.store.billable_periods, self._load_releases(),
                           reload=self._reload_if_changed)
        # A worker forked from a pre-loading server (gunicorn's SIGHUP starts new ones) looks
        # at the release folder again as it starts (_after_fork_in_child).
        # free-text trigger terms, kept beside the ValueSets (not FHIR, so in a subfolder)
        self.text = TextReader(self.store.directory / "text-triggers")
        _LIVE.add(self)

    def _load_releases(self) -> ReleaseSet:
        self._releases_seen = release_store.fingerprint(self.releases_dir)
        stored = release_store.load_stored(self.releases_dir)
        return ReleaseSet([bundled_release(), *stored])

    def _mark_stale(self) -> None:
        self.icd.stale = True

    def _reload_if_changed(self) -> ReleaseSet | None:
        with self._releases_lock:
            if release_store.fingerprint(self.releases_dir) == self._releases_seen:
                return None
            loaded = self._load_releases()
        log.info("ICD-10-CM releases reloaded: %s", ", ".join(r.label for r in loaded.releases))
        return loaded

    def refresh_releases(self) -> bool:
        """Read the release folder again if it changed since it was read; True if it did."""
        self.icd.stale = False
        loaded = self._reload_if_changed()
        if loaded is None:
            return False
        self.icd.releases = loaded
        self.warn_if_outdated()
        return True

    def warn_if_outdated(self, today=None) -> bool:
        """Log a warning when today's date of service is past every loaded release."""
        today = today or datetime.now(UTC).date()
        if not self.icd.releases.outdated(today):
            return False
        fiscal_year = fiscal_year_of(today)
        log.warning(
            "ICD-10-CM code set outdated: today is past the window of every loaded release; "
            "load the CDC release that applies with `cds-service codeset add`",
            extra={"newest_release": self.icd.releases.newest.label,
                   "release_that_applies": f"CDC ICD-10-CM FY{fiscal_year}"})
        return True

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


def releases_folder(data_dir: str | None) -> Path | None:
    """The folder of the loaded releases in the data folder ``data_dir`` (CDS_DATA_DIR as the
    caller's settings resolve it; None: the default folder), or None when there is none."""
    try:
        return release_store.store_dir(data_dir)
    except RuntimeError:  # no CDS_DATA_DIR and no home directory: the bundled release only
        log.warning("no folder for ICD-10-CM releases (set CDS_DATA_DIR): the bundled release only")
        return None


_LIVE: weakref.WeakSet[Terminology] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """A new worker process (gunicorn forks them from a master that loaded everything, at
    start and again on SIGHUP) looks at the release folder now: a release added or removed
    since the master read it is read here. Only the folder listing is read unless it changed."""
    for terminology in list(_LIVE):
        terminology._releases_lock = threading.Lock()  # a lock is not carried across a fork
        terminology._mark_stale()
        try:
            terminology.refresh_releases()
        except Exception:  # read on first use instead (Icd10cm.releases)
            log.warning("ICD-10-CM releases not re-read after fork", exc_info=True)


os.register_at_fork(after_in_child=_after_fork_in_child)


@lru_cache(maxsize=1)
def shipped_valuesets() -> ValueSetStore:
    """The ValueSets and ConceptMaps shipped in ``valuesets/``, read once per process."""
    return ValueSetStore(data_files.data_dir("valuesets"))


@cache
def get_terminology(data_dir: str | None = None) -> Terminology:
    """The process's terminology, with the releases loaded into the data folder ``data_dir``
    (CDS_DATA_DIR; None: the default folder), built once."""
    return Terminology(releases_dir=releases_folder(data_dir))


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
    "Terminology",
    "TerminologyError",
    "get_terminology",
    "releases_folder",
    "shipped_valuesets",
    "normalize",
]

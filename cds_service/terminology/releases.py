"""ICD-10-CM releases by date of service: the one simple-icd-10-cm ships and those an operator
loads with ``cds-service codeset add`` (docs/code-set-releases.md), and which one judges a date.

A release for fiscal year N is in force from October 1 of N-1 to September 30 of N; an April
update from its effective date to September 30 of N (it supersedes the October release from
then). Loaded releases are kept on disk by ``release_store.py``; a CDC release file is read by
``release_files.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from .codeset import CodeTable, bundled

# The release simple-icd-10-cm 1.5.0 ships: CDC ICD-10-CM April 1, 2026 (FY2026).
BUNDLED_FISCAL_YEAR = 2026
BUNDLED_EFFECTIVE = date(2026, 4, 1)
BUNDLED_ORIGIN = "simple-icd-10-cm 1.5.0 (CDC icd10cm-tabular April 1, 2026)"


def fiscal_year_of(day: date) -> int:
    """ICD-10-CM fiscal years run October 1 to September 30: 2026-11-20 is in FY2027."""
    return day.year + 1 if day.month >= 10 else day.year


def fiscal_year_start(fiscal_year: int) -> date:
    return date(fiscal_year - 1, 10, 1)


def release_label(fiscal_year: int, effective: date) -> str:
    """"CDC ICD-10-CM FY2027"; a mid-year update also names its date: "CDC ICD-10-CM FY2026
    (April 1, 2026)"."""
    label = f"CDC ICD-10-CM FY{fiscal_year}"
    if effective != fiscal_year_start(fiscal_year):
        label += f" ({effective:%B} {effective.day}, {effective.year})"
    return label


@dataclass(frozen=True)
class Release:
    fiscal_year: int
    effective: date
    table: CodeTable
    origin: str  # where it came from: the file name given to `codeset add`, or the package
    stored_as: Path | None = None  # None: the bundled release
    sha256: str = ""
    added: str = ""

    @property
    def until(self) -> date:
        return date(self.fiscal_year, 9, 30)

    @property
    def label(self) -> str:
        return release_label(self.fiscal_year, self.effective)

    @property
    def bundled(self) -> bool:
        return self.stored_as is None

    def covers(self, day: date) -> bool:
        return self.effective <= day <= self.until

    def describe(self) -> dict:
        return {"release": self.label, "fiscalYear": self.fiscal_year,
                "effective": self.effective.isoformat(), "until": self.until.isoformat(),
                "codes": len(self.table), "source": "bundled" if self.bundled else "loaded",
                "origin": self.origin}


def bundled_release() -> Release:
    return Release(BUNDLED_FISCAL_YEAR, BUNDLED_EFFECTIVE, bundled(), BUNDLED_ORIGIN)


class ReleaseSet:
    """The loaded releases, and which one judges a date of service.

    On a date some release covers, the covering release with the latest effective date judges
    (an April update over its October release; a loaded release over the bundled one of the
    same date). On a date past every release's window the newest release judges, and the date
    is *outdated*: the release that applies is not loaded. On a date before or between the
    loaded releases the bundled release judges, with the dated history of
    ``valuesets/icd10cm-billable-periods.json``.
    """

    def __init__(self, releases: list[Release]):
        if not any(r.bundled for r in releases):
            raise ValueError("the bundled release must be one of the releases")
        self.releases = sorted(releases, key=lambda r: (r.effective, not r.bundled))
        self.default = next(r for r in self.releases if r.bundled)
        self.newest = max(self.releases, key=lambda r: (r.until, r.effective, not r.bundled))
        self._by_day: dict[date, Release] = {}

    def in_force(self, day: date | None) -> Release:
        if day is None:
            return self.default
        release = self._by_day.get(day)
        if release is None:
            covering = [r for r in self.releases if r.covers(day)]
            if covering:
                release = covering[-1]
            elif day > self.newest.until:
                release = self.newest
            else:
                release = self.default
            if len(self._by_day) > 4096:
                self._by_day = {}
            self._by_day[day] = release
        return release

    def outdated(self, day: date | None) -> bool:
        """Whether ``day`` is past the window of every loaded release."""
        return day is not None and day > self.newest.until

    def before(self, release: Release) -> Release:
        """The release in force the day before ``release`` took effect."""
        return self.in_force(release.effective - timedelta(days=1))

    def covers(self, day: date) -> bool:
        return any(r.covers(day) for r in self.releases)

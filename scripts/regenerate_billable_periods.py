#!/usr/bin/env python3
"""Regenerate (or check) valuesets/icd10cm-billable-periods.json from real CDC ICD-10-CM
releases.

The releases are the CDC tabular XML files that simple-icd-10-cm ships: 1.1.2 carries FY2021
(the January 1, 2021 files), 1.3.0 the April 1, 2025 release, and the installed 1.5.0 the
April 1, 2026 release (FY2026). Older wheels are fetched once with ``pip download`` into
``.cache/icd10cm-wheels/`` (ignored by git) and checked against the SHA-256 pinned below.

For every code of the families the service judges (FAMILIES), the billable status (a leaf of
the tabular) is read from each release; the codes whose status differs between releases are
written with their billable periods. A change seen between two releases that are next to each
other in time is dated by the later one's effective date. A change that falls in a gap (FY2022
to FY2024 are in no package) takes its fiscal year from scripts/icd10cm-change-years.json,
checked to lie in the gap; without an entry it is dated to the benefit of the code: an added code
from the earliest date it can have been added, a retired code until the latest date it can have
been retired, so that no code is called invalid on a date the releases cannot rule on.

    python scripts/regenerate_billable_periods.py          # rewrite the file
    python scripts/regenerate_billable_periods.py --check  # exit 1 if the file differs
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cds_service.terminology import codeset  # noqa: E402
from cds_service.terminology.releases import fiscal_year_start, release_label  # noqa: E402
from cds_service.terminology.tabular import parse_tabular  # noqa: E402

OUTPUT = ROOT / "valuesets" / "icd10cm-billable-periods.json"
CHANGE_YEARS = ROOT / "scripts" / "icd10cm-change-years.json"
CACHE = ROOT / ".cache" / "icd10cm-wheels"
# The code families the rules judge: dorsopathies M40-M54, M96, M99, chronic pain G89, lumbar
# injuries S33/S39, aftercare Z47/Z48, status Z98.
FAMILIES = re.compile(r"^(M4[0-9]|M5[0-4]|M96|M99|G89|S33|S39|Z47|Z48|Z98)")


class Unreachable(Exception):
    """The package index could not be reached to fetch an older release."""


@dataclass(frozen=True)
class Source:
    package_version: str
    sha256: str | None  # of the wheel; None: the installed package
    tabular: str
    code_list: str
    code_column: tuple[int, int] | None  # where the code is in a line; None: the first word
    fiscal_year: int
    effective: date


SOURCES = (
    Source("1.1.2", "f6c8a14025b39ce288abc6c380ca0c89bcf3c3dc458490fe7c61cabd53ba46d6",
           "icd10cm_tabular_2021.xml", "icd10cm-order-Jan-2021.txt", (6, 14), 2021,
           date(2021, 1, 1)),
    Source("1.3.0", "9b6c022e7de2b59a5c440938e8e62e1b912923d28ac06d66112fdef6ef3949dc",
           "icd10cm-tabular-April-2025.xml", "code-list-April-2025.txt", None, 2025,
           date(2025, 4, 1)),
    Source("1.5.0", None, "icd10c-tabular-April-1-2026.xml", "code-list-April-2026.txt", None,
           2026, date(2026, 4, 1)),
)


@dataclass(frozen=True)
class Release:
    label: str
    fiscal_year: int
    effective: date
    table: dict

    @property
    def until(self) -> date:
        return date(self.fiscal_year, 9, 30)

    def billable(self, code: str) -> bool:
        entry = self.table.get(code)
        return entry is not None and not entry[1]


def wheel(source: Source) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    name = f"simple_icd_10_cm-{source.package_version}-py3-none-any.whl"
    path = CACHE / name
    if not path.exists():
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", f"simple-icd-10-cm=={source.package_version}",
             "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "--quiet",
             "--dest", str(CACHE)],
            capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        if result.returncode != 0 or not path.exists():
            raise Unreachable(f"pip download simple-icd-10-cm=={source.package_version} failed: "
                              f"{result.stderr.strip().splitlines()[-1:] or result.returncode}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != source.sha256:
        path.unlink()
        raise SystemExit(f"{name}: SHA-256 {digest} is not the pinned {source.sha256}")
    return path


def read_release(source: Source) -> Release:
    if source.sha256 is None:
        import importlib.metadata

        installed = importlib.metadata.version("simple-icd-10-cm")
        if installed != source.package_version:
            raise SystemExit(f"simple-icd-10-cm {installed} is installed; this script reads "
                             f"{source.package_version}")
        data = codeset.package_data_dir()
        codes_text = (data / source.code_list).read_text("utf-8")
        opener = (data / source.tabular).open
    else:
        archive = zipfile.ZipFile(wheel(source))
        member = f"simple_icd_10_cm/data/{source.tabular}"
        codes_text = archive.read(f"simple_icd_10_cm/data/{source.code_list}").decode("utf-8")

        def opener(mode: str = "rb"):
            return archive.open(member)
    if source.code_column:
        start, end = source.code_column
        codes = [line[start:end].strip() for line in codes_text.splitlines()]
    else:
        codes = [line.split(" ")[0] for line in codes_text.splitlines()]  # CRLF in 2025
    with opener("rb") as handle:
        version, table = parse_tabular(handle, codes)
    if version != str(source.fiscal_year):
        raise SystemExit(f"{source.tabular}: <version> {version}, expected {source.fiscal_year}")
    return Release(release_label(source.fiscal_year, source.effective), source.fiscal_year,
                   source.effective, table)


def change_years() -> dict[str, tuple[int, str]]:
    years = {}
    for change in json.loads(CHANGE_YEARS.read_text("utf-8"))["changes"]:
        for code in change["codes"]:
            years[code] = (change["fiscalYear"], change["source"])
    return years


def change_day(code: str, before: Release, after: Release, added: bool,
               years: dict[str, tuple[int, str]]) -> tuple[date, str]:
    """The first day of the later status, and how it was dated."""
    earliest, latest = before.until + timedelta(days=1), after.effective
    if fiscal_year_start(after.fiscal_year) <= before.until:  # the same fiscal year: next
        return after.effective, f"in {after.label}"
    if code in years:
        fiscal_year, source = years[code]
        day = fiscal_year_start(fiscal_year)
        if not earliest <= day <= latest:
            raise SystemExit(f"{code}: FY{fiscal_year} in {CHANGE_YEARS.name} is not between "
                             f"{before.label} and {after.label}")
        return day, source
    if earliest == latest:
        return latest, f"in {after.label}"
    day = earliest if added else latest
    return day, (f"between {before.label} and {after.label}, which releases in between are not "
                 f"read; dated to the code's benefit")


def periods_of(code: str, releases: list[Release], years) -> tuple[list[dict], list[str]]:
    statuses = [r.billable(code) for r in releases]
    properties, notes = [], []
    for index in range(1, len(releases)):
        if statuses[index] == statuses[index - 1]:
            continue
        added = statuses[index]
        day, how = change_day(code, releases[index - 1], releases[index], added, years)
        if added:
            properties.append({"code": "billable-from", "valueDateTime": day.isoformat()})
            notes.append(f"billable from {day.isoformat()} ({how})")
        else:
            last = day - timedelta(days=1)
            properties.append({"code": "billable-until", "valueDateTime": last.isoformat()})
            header = code in releases[index].table
            notes.append(f"billable until {last.isoformat()}, then "
                         f"{'a header with more specific codes' if header else 'deleted'} "
                         f"({how})")
    return properties, notes


def build(releases: list[Release]) -> dict:
    years = change_years()
    codes = sorted({code for r in releases for code in r.table
                    if FAMILIES.match(code) and len({x.billable(code) for x in releases}) > 1})
    concepts = []
    for code in codes:
        properties, notes = periods_of(code, releases, years)
        newest = next(r for r in reversed(releases) if code in r.table)
        seen = "; ".join(f"{r.label}: {_status(r, code)}" for r in releases)
        concepts.append({
            "code": code,
            "display": newest.table[code][2],
            "definition": f"{_sentence('; '.join(notes))} Read from the releases: {seen}.",
            "property": properties,
        })
    newest = releases[-1]
    names = ", ".join(r.label for r in releases)
    return {
        "resourceType": "CodeSystem",
        "id": "icd10cm-billable-periods",
        "url": "https://lbp-coding.example.org/fhir/CodeSystem/icd10cm-billable-periods",
        "version": newest.effective.isoformat(),
        "name": "Icd10cmBillablePeriods",
        "title": "ICD-10-CM billable periods of codes whose status changed",
        "status": "active",
        "experimental": False,
        "date": newest.effective.isoformat(),
        "description": (
            "Dated billable periods of the ICD-10-CM codes of the families this service judges "
            "(M40-M54, M96, M99, G89, S33, S39, Z47, Z48, Z98) whose billable status (a leaf of "
            f"the tabular list) differs between the CDC ICD-10-CM tabular releases {names}. "
            "Generated by scripts/regenerate_billable_periods.py; codes not listed take their "
            "status from the release in force on the date of service. Changes that fall between "
            "releases not read here are dated from the CDC addenda of their fiscal year where "
            "known (scripts/icd10cm-change-years.json), else to the code's benefit. ICD-10-CM "
            "fiscal years run October 1 to September 30 (CMS ICD-10 code files). Sources: CDC "
            "ICD-10-CM tabular FY2021; CDC ICD-10-CM tabular FY2025 (April 2025); CDC ICD-10-CM "
            "tabular FY2026 (April 2026); CMS ICD-10 code files."),
        "caseSensitive": True,
        "content": "fragment",
        "property": [
            {"code": "billable-from",
             "description": "First date of service on which the code is billable (inclusive)",
             "type": "dateTime"},
            {"code": "billable-until",
             "description": "Last date of service on which the code is billable (inclusive)",
             "type": "dateTime"},
        ],
        "concept": concepts,
    }


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def _status(release: Release, code: str) -> str:
    if code not in release.table:
        return "not a code"
    return "billable" if release.billable(code) else "a header"


def render(resource: dict) -> str:
    return json.dumps(resource, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed file instead of writing it")
    parser.add_argument("--file", type=Path, default=OUTPUT,
                        help=f"the file to write or check (default: {OUTPUT.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    try:
        releases = [read_release(source) for source in SOURCES]
    except Unreachable as exc:
        print(f"cannot fetch the older releases: {exc}", file=sys.stderr)
        return 3
    resource = build(releases)
    text = render(resource)
    if args.check:
        current = args.file.read_text("utf-8")
        if current != text:
            sys.stdout.writelines(difflib.unified_diff(
                current.splitlines(True), text.splitlines(True), str(args.file), "regenerated"))
            return 1
        print(f"{args.file} matches the CDC releases")
        return 0
    args.file.write_text(text, "utf-8")
    print(f"wrote {args.file}: {len(resource['concept'])} codes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

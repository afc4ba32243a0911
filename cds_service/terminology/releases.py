"""ICD-10-CM releases by date of service: the one simple-icd-10-cm ships and those an operator
loads with ``cds-service codeset add`` (docs/code-set-releases.md).

A release for fiscal year N is in force from October 1 of N-1 to September 30 of N; an April
update from its effective date to September 30 of N (it supersedes the October release from
then). Releases are kept under ``CDS_DATA_DIR/icd10cm-releases/``, one file each, named by the
effective date: a ``marshal`` dump (plain data only; loading runs no code) of the compact table
``codeset.parse_tabular`` builds and a few facts about the release, written to a temporary
file and renamed over the old one, so a reader never sees half a release.
"""

from __future__ import annotations

import hashlib
import io
import logging
import marshal
import os
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO

from .codeset import CodeTable, TabularError, bundled, parse_tabular, write_atomically

log = logging.getLogger(__name__)

STORE_FOLDER = "icd10cm-releases"
_STORE_FORMAT = 1
_FILE_NAME = re.compile(r"^icd10cm-(\d{4}-\d{2}-\d{2})\.marshal$")
# The release simple-icd-10-cm 1.5.0 ships: CDC ICD-10-CM April 1, 2026 (FY2026).
BUNDLED_FISCAL_YEAR = 2026
BUNDLED_EFFECTIVE = date(2026, 4, 1)
BUNDLED_ORIGIN = "simple-icd-10-cm 1.5.0 (CDC icd10cm-tabular April 1, 2026)"
# A tabular XML inside a CDC zip, e.g. icd10cm-tabular-2027.xml, icd10cm_tabular_2021.xml
_TABULAR_MEMBER = re.compile(r"tabular[^/]*\.xml$", re.IGNORECASE)
# The CDC code list in its zip, e.g. icd10cm-codes-2027.txt (icd10cm_codes_2021.txt)
_CODES_MEMBER = re.compile(r"icd10cm[-_]codes[^/]*\.txt$", re.IGNORECASE)
_MAX_MEMBER_BYTES = 200 * 1024 * 1024  # the FY2026 tabular is 10 MB


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


# -- the store -----------------------------------------------------------------------------------


class ReleaseStoreError(Exception):
    """A release cannot be stored, read or removed; the message is one line for the operator."""


def default_data_dir() -> Path:
    """CDS_DATA_DIR as the settings resolve it (environment or CDS_CONFIG_FILE), else the
    feedback store's default folder: releases live beside the SQLite database."""
    from ..settings import Settings, SettingsError

    try:
        configured = Settings.load().data_dir
    except SettingsError:
        configured = os.environ.get("CDS_DATA_DIR", "").strip() or None
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_DATA_HOME", "").strip()
    if base:
        return Path(base) / "cds-service"
    return Path.home() / ".local" / "share" / "cds-service"


def store_dir(data_dir: Path | str | None = None) -> Path:
    return Path(data_dir).expanduser() / STORE_FOLDER if data_dir else (
        default_data_dir() / STORE_FOLDER)


def fingerprint(directory: Path | None) -> tuple:
    """What changes when a release is added, replaced or removed (names, sizes, mtimes)."""
    if directory is None:
        return ()
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return ()
    except OSError:
        return ("unreadable",)
    result = []
    for entry in entries:
        if _FILE_NAME.match(entry.name):
            try:
                stat = entry.stat()
            except OSError:
                continue
            result.append((entry.name, stat.st_size, stat.st_mtime_ns))
    return tuple(result)


def load_stored(directory: Path | None) -> list[Release]:
    """Every release in the store; a file that cannot be read is skipped with a warning (the
    service still starts, and ``/readyz`` lists what was loaded)."""
    releases = []
    for name, _size, _mtime in fingerprint(directory):
        if name == "unreadable":
            log.warning("ICD-10-CM release folder not readable")
            break
        try:
            releases.append(read_release(directory / name))
        except ReleaseStoreError as exc:
            log.warning("ICD-10-CM release skipped: %s", exc)
    return releases


def read_release(path: Path) -> Release:
    try:
        content = marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError) as exc:
        raise ReleaseStoreError(f"{path.name}: cannot be read ({type(exc).__name__})") from None
    try:
        if content["format"] != _STORE_FORMAT or not isinstance(content["table"], dict):
            raise ValueError("format")
        return Release(int(content["fiscal_year"]), date.fromisoformat(content["effective"]),
                       CodeTable(content["table"]), str(content["origin"]), path,
                       str(content["sha256"]), str(content["added"]))
    except (KeyError, TypeError, ValueError):
        raise ReleaseStoreError(f"{path.name}: not a release file of this version of "
                                "cds-service") from None


def list_stored(directory: Path) -> list[Release]:
    return sorted(load_stored(directory), key=lambda r: r.effective)


@dataclass(frozen=True)
class ParsedRelease:
    fiscal_year: int
    effective: date
    table: dict
    origin: str
    sha256: str
    code_list: bool  # whether a CDC code list filtered the generated 7th-character codes


def parse_release_file(path: Path, effective: date | None = None,
                       codes_path: Path | None = None) -> ParsedRelease:
    """Read and check a CDC tabular XML, or a CDC zip holding one. Raises TabularError with a
    one-line reason when it is not a tabular release."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise TabularError(f"cannot read it ({type(exc).__name__})") from None
    digest = hashlib.sha256()
    with raw:
        head = raw.read(4)
        raw.seek(0)
        for block in iter(lambda: raw.read(1 << 20), b""):
            digest.update(block)
        raw.seek(0)
        confirmed = _read_code_list(codes_path) if codes_path else None
        if head.startswith(b"PK"):
            version, table, zipped_codes = _parse_zip(raw, confirmed)
            confirmed = confirmed if confirmed is not None else zipped_codes
        else:
            version, table = parse_tabular(raw, confirmed)
    if not re.fullmatch(r"\d{4}", version):
        raise TabularError(f"its <version> is {version[:20]!r}, not a fiscal year such as 2027")
    fiscal_year = int(version)
    start, until = fiscal_year_start(fiscal_year), date(fiscal_year, 9, 30)
    if effective is None:
        effective = start
    elif not start <= effective <= until:
        raise TabularError(f"--effective {effective} is outside FY{fiscal_year} ({start} to "
                           f"{until})")
    return ParsedRelease(fiscal_year, effective, table, path.name, digest.hexdigest(),
                         confirmed is not None)


def _parse_zip(raw: IO[bytes], confirmed: set[str] | None
               ) -> tuple[str, dict, set[str] | None]:
    try:
        archive = zipfile.ZipFile(raw)
    except (zipfile.BadZipFile, OSError):
        raise TabularError("it is a damaged zip file") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        tabulars = [m for m in members if _TABULAR_MEMBER.search(m.filename)
                    and "__MACOSX" not in m.filename]
        if len(tabulars) != 1:
            found = "no" if not tabulars else f"{len(tabulars)}"
            raise TabularError(f"the zip holds {found} ICD-10-CM tabular XML files (expected "
                               "one, such as icd10cm-tabular-2027.xml)")
        member = tabulars[0]
        if member.file_size > _MAX_MEMBER_BYTES:
            raise TabularError(f"{member.filename} in the zip is larger than "
                               f"{_MAX_MEMBER_BYTES // 2**20} MB")
        codes = None
        code_members = [m for m in members if _CODES_MEMBER.search(m.filename)]
        if confirmed is None and len(code_members) == 1:
            if code_members[0].file_size > _MAX_MEMBER_BYTES:
                raise TabularError(f"{code_members[0].filename} in the zip is too large")
            with archive.open(code_members[0]) as handle:
                codes = _code_list_of(handle.read().decode("utf-8", "replace"))
        try:
            with archive.open(member) as handle:
                version, table = parse_tabular(_Bounded(handle, _MAX_MEMBER_BYTES),
                                               confirmed if confirmed is not None else codes)
        except (zipfile.BadZipFile, OSError, EOFError):
            raise TabularError(f"{member.filename} in the zip is damaged") from None
    return version, table, codes


class _Bounded(io.RawIOBase):
    """A read-only stream that stops a zip bomb: at most ``limit`` bytes are read from it."""

    def __init__(self, inner: IO[bytes], limit: int):
        self.inner, self.left = inner, limit

    def read(self, size: int = -1) -> bytes:
        block = self.inner.read(size if size >= 0 else self.left + 1)
        self.left -= len(block)
        if self.left < 0:
            raise TabularError("the tabular XML in the zip is larger than it says")
        return block


def _read_code_list(path: Path) -> set[str]:
    try:
        if path.read_bytes()[:2] == b"PK":
            with zipfile.ZipFile(path) as archive:
                names = [m for m in archive.namelist() if _CODES_MEMBER.search(m)]
                if len(names) != 1:
                    raise TabularError("--codes: the zip does not hold one icd10cm-codes file")
                return _code_list_of(archive.read(names[0]).decode("utf-8", "replace"))
        return _code_list_of(path.read_text("utf-8", "replace"))
    except (OSError, zipfile.BadZipFile) as exc:
        raise TabularError(f"--codes: cannot read it ({type(exc).__name__})") from None


def _code_list_of(text: str) -> set[str]:
    """The first word of each line, without dots: the CDC code list (``A000  Cholera...``)."""
    codes = {line.split()[0].replace(".", "") for line in text.splitlines() if line.strip()}
    if not codes or not all(re.fullmatch(r"[A-Z0-9-]{1,8}", c) for c in list(codes)[:50]):
        raise TabularError("--codes: not a CDC ICD-10-CM code list")
    return codes


def store_release(parsed: ParsedRelease, directory: Path) -> Path:
    """Write the release atomically (temporary file, fsync, rename); return its path."""
    path = directory / f"icd10cm-{parsed.effective.isoformat()}.marshal"
    content = {
        "format": _STORE_FORMAT,
        "fiscal_year": parsed.fiscal_year,
        "effective": parsed.effective.isoformat(),
        "origin": parsed.origin,
        "sha256": parsed.sha256,
        "added": datetime.now(UTC).isoformat(timespec="seconds"),
        "code_list": parsed.code_list,
        "table": parsed.table,
    }
    try:
        write_atomically(path, marshal.dumps(content))
    except OSError as exc:
        raise ReleaseStoreError(f"cannot write {path} ({type(exc).__name__}: "
                                f"{exc.strerror or exc})") from None
    return path


def remove_release(directory: Path, which: str) -> Release:
    """Remove the stored release named by its effective date (2026-10-01) or fiscal year
    (FY2027 or 2027; refused when two releases of that year are stored)."""
    releases = list_stored(directory)
    wanted = which.strip().upper().removeprefix("FY")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", wanted):
        matches = [r for r in releases if r.effective.isoformat() == wanted]
    elif re.fullmatch(r"\d{4}", wanted):
        matches = [r for r in releases if r.fiscal_year == int(wanted)]
    else:
        raise ReleaseStoreError(f"{which!r} is neither a fiscal year (FY2027) nor an effective "
                                "date (2026-10-01)")
    if not matches:
        raise ReleaseStoreError(f"no stored release matches {which!r} (`cds-service codeset "
                                "list` shows them; the bundled release cannot be removed)")
    if len(matches) > 1:
        dates = ", ".join(r.effective.isoformat() for r in matches)
        raise ReleaseStoreError(f"{which!r} matches {len(matches)} releases ({dates}): name "
                                "one by its effective date")
    release = matches[0]
    try:
        release.stored_as.unlink()  # type: ignore[union-attr]
    except OSError as exc:
        raise ReleaseStoreError(f"cannot remove {release.stored_as} "
                                f"({type(exc).__name__})") from None
    return release

"""The ICD-10-CM releases an operator loaded, kept under ``<data folder>/icd10cm-releases/``:
one file each, named by the effective date, a ``marshal`` dump (plain data only; loading runs no
code) of the compact table ``tabular.parse_tabular`` builds and a few facts about the release,
written to a temporary file and renamed over the old one, so a reader never sees half a release.

The data folder (CDS_DATA_DIR) is the caller's to give: this package reads no settings.
"""

from __future__ import annotations

import logging
import marshal
import os
import re
from datetime import UTC, date, datetime
from pathlib import Path

from ..errors import ServiceError
from .codeset import CodeTable, write_atomically
from .release_files import ParsedRelease
from .releases import Release

log = logging.getLogger(__name__)

STORE_FOLDER = "icd10cm-releases"
_STORE_FORMAT = 1
_FILE_NAME = re.compile(r"^icd10cm-(\d{4}-\d{2}-\d{2})\.marshal$")


class ReleaseStoreError(ServiceError):
    """A release cannot be stored, read or removed; the message is one line for the operator."""


def default_data_dir() -> Path:
    """The data folder when CDS_DATA_DIR is not set: the feedback store's default folder
    (releases live beside the SQLite database). Raises RuntimeError without a home directory."""
    base = os.environ.get("XDG_DATA_HOME", "").strip()
    if base:
        return Path(base) / "cds-service"
    return Path.home() / ".local" / "share" / "cds-service"


def store_dir(data_dir: Path | str | None) -> Path:
    """The release folder in the data folder ``data_dir`` (CDS_DATA_DIR as the caller's
    settings resolve it), or in the default one when it is None."""
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

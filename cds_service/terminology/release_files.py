"""Reading a CDC ICD-10-CM release as an operator hands it to ``cds-service codeset add``: a
tabular XML, or the CDC zip holding one (and, when given or zipped beside it, the CDC code list
that drops the generated 7th-character codes the CDC does not list).
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO

from .releases import fiscal_year_start
from .tabular import TabularError, parse_tabular

# A tabular XML inside a CDC zip, e.g. icd10cm-tabular-2027.xml, icd10cm_tabular_2021.xml
_TABULAR_MEMBER = re.compile(r"tabular[^/]*\.xml$", re.IGNORECASE)
# The CDC code list in its zip, e.g. icd10cm-codes-2027.txt (icd10cm_codes_2021.txt)
_CODES_MEMBER = re.compile(r"icd10cm[-_]codes[^/]*\.txt$", re.IGNORECASE)
_MAX_MEMBER_BYTES = 200 * 1024 * 1024  # the FY2026 tabular is 10 MB


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


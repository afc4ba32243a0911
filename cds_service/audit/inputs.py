"""The export's files: found and checked before any work starts, then read one line at a time.

A FHIR Bulk Data export (https://hl7.org/fhir/uv/bulkdata/export.html) is one NDJSON file per
resource type, often split into several files and often gzipped. The audit never trusts a file's
name for its type: every line says its own ``resourceType``.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path

from ..errors import ServiceError

_GZIP_MAGIC = b"\x1f\x8b"
# what a folder is searched for; a file named on the command line is read whatever its name
NDJSON_SUFFIXES = (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")
# an estimate of how much a gzipped NDJSON file grows when read, to size the partitions
_GZIP_RATIO = 10


class InputError(ServiceError):
    """An input the audit cannot start with: missing, unreadable, or a folder without NDJSON."""


def resolve_inputs(inputs: list[str]) -> list[Path]:
    """Every file to read, in a stable order, each checked readable; InputError otherwise."""
    files: list[Path] = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*")
                           if p.is_file() and p.name.lower().endswith(NDJSON_SUFFIXES))
            if not found:
                raise InputError(f"{name}: the folder holds no NDJSON files "
                                 f"({', '.join(NDJSON_SUFFIXES)})")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        elif path.exists():
            raise InputError(f"{name}: not a file or a folder")
        else:
            raise InputError(f"{name}: no such file or folder")
    unique: dict[Path, Path] = {}
    for file in files:
        unique.setdefault(file.resolve(), file)
    checked = list(unique.values())
    for file in checked:
        _check_readable(file)
    return checked


def _check_readable(path: Path) -> None:
    try:
        with path.open("rb") as raw:
            head = raw.read(2)
        if head == _GZIP_MAGIC:
            with gzip.open(path, "rb") as unzipped:
                unzipped.read(1)
    except PermissionError:
        raise InputError(f"{path}: cannot read the file (permission denied)") from None
    except (gzip.BadGzipFile, EOFError, zlib.error):
        raise InputError(f"{path}: the file starts as gzip but cannot be decompressed") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file ({exc.__class__.__name__})") from None


def estimated_bytes(path: Path) -> int:
    """The size of the file's NDJSON once read (gzip: estimated from the compressed size)."""
    size = path.stat().st_size
    return size * _GZIP_RATIO if _is_gzip(path) else size


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as raw:
        return raw.read(2) == _GZIP_MAGIC


class TruncatedInput(ServiceError):
    """The file stopped being readable after ``line`` lines (a cut gzip stream, a disk error)."""

    def __init__(self, line: int):
        super().__init__(line)
        self.line = line


def read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number from 1, the line's bytes without its end), streamed: never the whole file."""
    number = 0
    opener = gzip.open if _is_gzip(path) else open
    try:
        with opener(path, "rb") as lines:
            for number, line in enumerate(lines, start=1):  # noqa: B007 (read after the loop)
                yield number, line.rstrip(b"\r\n")
    except (gzip.BadGzipFile, EOFError, zlib.error, OSError):
        raise TruncatedInput(number) from None

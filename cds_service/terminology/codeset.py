"""ICD-10-CM tabular lists as compact tables, and the table of the CDC release that
simple-icd-10-cm ships (any CDC tabular XML an operator loads is read by ``tabular.py``).

simple-icd-10-cm parses the CDC XML when it is imported (about 1.4 s and 175 MiB here). The
service needs only each code's parent, children, description and Excludes1 notes, so it keeps
them in a compact table, cached on disk (``marshal``, which rebuilds plain data and runs no
code) under the user's cache folder and rebuilt whenever the package, its data files or the
Python version change. Loading the cache takes tens of milliseconds. The methods of
``CodeTable`` (and this module's functions, which answer from the bundled release) mirror the
names of simple-icd-10-cm's API that ``icd10cm`` uses.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import marshal
import os
import sys
import tempfile
import threading
from pathlib import Path

log = logging.getLogger(__name__)

_FORMAT = 2
# code -> (ancestors nearest first, children, description, excludes1 notes). Ancestors are kept
# whole rather than walked through parents: some codes are both a block and a category
# ("M99"), and only the package's own walk tells the two apart.
_Entry = tuple[tuple[str, ...], tuple[str, ...], str, tuple[str, ...]]
Table = dict[str, _Entry]


class CodeTable:
    """One release's tabular list, read-only."""

    __slots__ = ("_table",)

    def __init__(self, table: Table):
        self._table = table

    def __len__(self) -> int:
        return len(self._table)

    def is_valid_item(self, code: str) -> bool:
        return code in self._table

    def is_leaf(self, code: str) -> bool:
        return not self._table[code][1]

    def get_children(self, code: str) -> list[str]:
        return list(self._table[code][1])

    def get_parent(self, code: str) -> str:
        ancestors = self._table[code][0]
        return ancestors[0] if ancestors else ""

    def get_ancestors(self, code: str) -> list[str]:
        return list(self._table[code][0])

    def get_description(self, code: str) -> str:
        return self._table[code][2]

    def get_excludes1(self, code: str) -> list[str]:
        return list(self._table[code][3])


_bundled: CodeTable | None = None
_lock = threading.Lock()


def load() -> None:
    """Load the table now (before a pre-forking server forks), from the cache if it is fresh."""
    bundled()


def bundled() -> CodeTable:
    """The table of the CDC release simple-icd-10-cm ships."""
    global _bundled
    if _bundled is None:
        with _lock:
            if _bundled is None:
                _bundled = CodeTable(_load_or_build())
    return _bundled


def is_valid_item(code: str) -> bool:
    return bundled().is_valid_item(code)


def is_leaf(code: str) -> bool:
    return bundled().is_leaf(code)


def get_children(code: str) -> list[str]:
    return bundled().get_children(code)


def get_parent(code: str) -> str:
    return bundled().get_parent(code)


def get_ancestors(code: str) -> list[str]:
    return bundled().get_ancestors(code)


def get_description(code: str) -> str:
    return bundled().get_description(code)


def get_excludes1(code: str) -> list[str]:
    return bundled().get_excludes1(code)


def package_data_dir() -> Path:
    spec = importlib.util.find_spec("simple_icd_10_cm")
    if spec is None or spec.origin is None:
        raise ImportError("simple-icd-10-cm is not installed")
    return Path(spec.origin).parent / "data"


def _source_key() -> str:
    data = package_data_dir()
    parts = [str(_FORMAT), str(marshal.version), sys.version.split()[0],
             importlib.metadata.version("simple-icd-10-cm")]
    for path in sorted(data.glob("*")):
        if path.is_file():
            stat = path.stat()
            parts.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _cache_dir() -> Path:
    configured = os.environ.get("CDS_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cds-service"


def write_atomically(path: Path, content: bytes) -> None:
    """Write ``content`` to a temporary file beside ``path``, flush it to disk, then rename it
    over ``path``: a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                             suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _load_or_build() -> Table:
    key = _source_key()
    path = _cache_dir() / f"icd10cm-{key}.marshal"
    try:
        table = marshal.loads(path.read_bytes())
        if isinstance(table, dict) and table:
            return table
    except (OSError, ValueError, EOFError, TypeError):
        pass
    table = _build()
    try:
        write_atomically(path, marshal.dumps(table))
    except OSError as exc:
        log.warning("ICD-10-CM table not cached", extra={"error_type": type(exc).__name__})
    return table


def _build() -> Table:
    import simple_icd_10_cm as cm

    table: Table = {}
    for code in cm.get_all_codes(True):
        table[code] = (tuple(cm.get_ancestors(code)), tuple(cm.get_children(code)),
                       cm.get_description(code), tuple(cm.get_excludes1(code)))
    return table

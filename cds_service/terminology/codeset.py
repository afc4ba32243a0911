"""The ICD-10-CM tabular list of the CDC release that simple-icd-10-cm ships, as one table.

simple-icd-10-cm parses the CDC XML when it is imported (about 1.4 s and 175 MiB here). The
service needs only each code's parent, children, description and Excludes1 notes, so it keeps
them in a compact table, cached on disk (``marshal``, which rebuilds plain data and runs no
code) under the user's cache folder and rebuilt whenever the package, its data files or the
Python version change. Loading the cache takes tens of milliseconds. The functions mirror the
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
_table: dict[str, _Entry] | None = None
_lock = threading.Lock()


def load() -> None:
    """Load the table now (before a pre-forking server forks), from the cache if it is fresh."""
    _get()


def is_valid_item(code: str) -> bool:
    return code in _get()


def is_leaf(code: str) -> bool:
    return not _get()[code][1]


def get_children(code: str) -> list[str]:
    return list(_get()[code][1])


def get_parent(code: str) -> str:
    ancestors = _get()[code][0]
    return ancestors[0] if ancestors else ""


def get_ancestors(code: str) -> list[str]:
    return list(_get()[code][0])


def get_description(code: str) -> str:
    return _get()[code][2]


def get_excludes1(code: str) -> list[str]:
    return list(_get()[code][3])


def _get() -> dict[str, _Entry]:
    global _table
    if _table is None:
        with _lock:
            if _table is None:
                _table = _load_or_build()
    return _table


def _source_key() -> str:
    spec = importlib.util.find_spec("simple_icd_10_cm")
    if spec is None or spec.origin is None:
        raise ImportError("simple-icd-10-cm is not installed")
    package_dir = Path(spec.origin).parent
    parts = [str(_FORMAT), str(marshal.version), sys.version.split()[0],
             importlib.metadata.version("simple-icd-10-cm")]
    for path in sorted((package_dir / "data").glob("*")):
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


def _load_or_build() -> dict[str, _Entry]:
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
        path.parent.mkdir(parents=True, exist_ok=True)
        # written whole, then renamed: a reader never sees half a file
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
            handle.write(marshal.dumps(table))
        os.replace(handle.name, path)
    except OSError as exc:
        log.warning("ICD-10-CM table not cached", extra={"error_type": type(exc).__name__})
    return table


def _build() -> dict[str, _Entry]:
    import simple_icd_10_cm as cm

    table: dict[str, _Entry] = {}
    for code in cm.get_all_codes(True):
        table[code] = (tuple(cm.get_ancestors(code)), tuple(cm.get_children(code)),
                       cm.get_description(code), tuple(cm.get_excludes1(code)))
    return table

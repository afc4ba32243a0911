"""Where the knowledge files live: inside the wheel (``cds_service/_data``) once installed, or at
the project's top level (``cards/``, ``valuesets/``) in a source checkout; and reading one that
is a JSON object."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import ServiceError

_PACKAGE_DATA = Path(__file__).resolve().parent / "_data"
_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def data_dir(name: str) -> Path:
    for base in (_PACKAGE_DATA, _SOURCE_ROOT):
        candidate = base / name
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"The '{name}' data folder is missing from the installation.")


def read_json_object(path: Path, error: type[ServiceError], what: str) -> dict:
    """A knowledge file as a JSON object, or ``error`` naming the file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path.name}: not readable JSON ({exc})") from None
    if not isinstance(document, dict):
        raise error(f"{path.name}: not {what}")
    return document

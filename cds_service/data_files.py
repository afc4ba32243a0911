"""Where the knowledge files live: inside the wheel (``cds_service/_data``) once installed, or at
the project's top level (``cards/``, ``valuesets/``) in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DATA = Path(__file__).resolve().parent / "_data"
_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def data_dir(name: str) -> Path:
    for base in (_PACKAGE_DATA, _SOURCE_ROOT):
        candidate = base / name
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"The '{name}' data folder is missing from the installation.")

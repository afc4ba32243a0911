"""Storing a release (``terminology/release_store.py``): written atomically, so a failed write
leaves nothing behind. Adding, listing and removing through the command are in
tests/test_codeset_releases.py."""

from __future__ import annotations

import os
from datetime import date

import pytest

from cds_service.terminology import release_store
from cds_service.terminology.release_files import ParsedRelease


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    parsed = ParsedRelease(2027, date(2026, 10, 1), {"A00": ((), (), "x", ())},
                            "x.xml", "0" * 64, False)

    def fail(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(release_store.ReleaseStoreError, match="No space left on device"):
        release_store.store_release(parsed, tmp_path)
    assert list(tmp_path.iterdir()) == []

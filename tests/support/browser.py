"""Headless Chromium for the page tests: the ``chromium`` fixture (Debian's package) and a
page's DOM once its scripts have run."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

# Debian's chromium on a closed network: no background connections, no first-run screens
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--disable-dev-shm-usage")


def dump_dom(chromium: str, url: str, tmp_path: Path, virtual_time_ms: int = 5000) -> str:
    """The DOM of ``url`` (a loopback page or a file) after ``virtual_time_ms`` of scripts,
    in a fresh profile."""
    profile = tmp_path / f"chromium-{uuid.uuid4().hex[:8]}"
    result = subprocess.run(
        [chromium, *_FLAGS, f"--user-data-dir={profile}",
         f"--virtual-time-budget={virtual_time_ms}", "--dump-dom", url],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, for the page tests (headless, on loopback pages only)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing in CI: scripts/test installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed (bash scripts/test installs it with "
                    "apt-get): the page tests are skipped")
    return path

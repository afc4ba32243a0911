"""Headless Chromium for the page tests: a page's DOM once its scripts have run."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

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

"""The test run's environment: the in-process apps and every server the tests start write their
data into a throwaway folder, never into the user's own nor into a DATABASE_URL from the shell."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

RUN_DIR = Path(tempfile.mkdtemp(prefix="cds-test-run-"))


def pytest_configure(config) -> None:
    os.environ.pop("DATABASE_URL", None)
    # the feedback database of the in-process apps: a SQLite file in the run's folder (each
    # LiveServer gets a folder of its own too)
    os.environ["CDS_DATA_DIR"] = str(RUN_DIR / "data")
    # settings loaded from an explicit environment (no CDS_DATA_DIR) fall back to the default
    # folder: keep that inside the run too, never the user's ~/.local/share
    os.environ["XDG_DATA_HOME"] = str(RUN_DIR / "xdg-data")


def pytest_unconfigure(config) -> None:
    shutil.rmtree(RUN_DIR, ignore_errors=True)

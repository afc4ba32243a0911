"""The example requests the tests read: tests/fixtures/examples (copied from ../shared/examples)
and the Synthea records (scripts/synthea_fixtures.py)."""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXAMPLES = sorted((FIXTURES / "examples").glob("*.json"))
SYNTHEA = sorted((FIXTURES / "synthea").glob("*.json"))


def load_example(name: str) -> dict:
    return json.loads((FIXTURES / "examples" / f"{name}.json").read_text())

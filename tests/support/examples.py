"""The example requests the tests read: tests/fixtures/examples (copied from ../shared/examples),
the Synthea records (scripts/synthea_fixtures.py), and every hook request under tests/fixtures."""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXAMPLES = sorted((FIXTURES / "examples").glob("*.json"))
SYNTHEA = sorted((FIXTURES / "synthea").glob("*.json"))


def load_example(name: str) -> dict:
    return json.loads((FIXTURES / "examples" / f"{name}.json").read_text())


def fixture_requests(hooks) -> list[tuple[str, dict]]:
    """Every hook request under tests/fixtures whose hook is one of ``hooks``, by its path there
    (a file may hold the request alone or under "request", beside what a response must hold)."""
    found = []
    for path in sorted(FIXTURES.rglob("*.json")):
        try:
            document = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            continue
        body = document.get("request", document) if isinstance(document, dict) else None
        if isinstance(body, dict) and body.get("hook") in hooks:
            found.append((str(path.relative_to(FIXTURES)), body))
    return found

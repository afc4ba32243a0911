"""Fixtures of the per-rule tests: the service's hook pipeline, in process (for the tests that
follow a request through to its cards)."""

from __future__ import annotations

import pytest

from tests import builders


@pytest.fixture(scope="session")
def pipeline():
    return builders.pipeline()

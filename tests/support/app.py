"""The app in process and its test client, with client authentication off; ``auth_app`` in
tests/support/jwks.py has it on."""

from __future__ import annotations

import dataclasses

import pytest

from cds_service import create_app
from cds_service.settings import Settings


@pytest.fixture(scope="session")
def app():
    """The app with client authentication off (CDS_AUTH_DISABLED)."""
    return create_app(dataclasses.replace(Settings.load(), auth_disabled=True))


@pytest.fixture()
def client(app):
    return app.test_client()

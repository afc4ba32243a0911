"""HTTP layer: Flask blueprints for discovery, hook calls and feedback, and the error envelope."""

from __future__ import annotations

from flask import Flask

from . import discovery, errors, services


def init_app(app: Flask) -> None:
    errors.init_app(app)
    app.register_blueprint(discovery.bp)
    app.register_blueprint(services.bp)

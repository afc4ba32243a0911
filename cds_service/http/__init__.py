"""HTTP layer: Flask blueprints for discovery, hook calls and feedback, and the error envelope."""

from __future__ import annotations

from flask import Flask

from . import (
    analytics,
    client_auth,
    discovery,
    errors,
    ops,
    request_context,
    request_log,
    request_metrics,
    rule_pages,
    services,
)


def init_app(app: Flask) -> None:
    request_context.init_app(app)  # first: every other hook reads or writes the record
    request_metrics.init_app(app)  # next, so that it times and counts every request
    request_log.init_app(app)  # one line per request, a refused call's included
    client_auth.init_app(app)  # client JWTs on the hook and feedback endpoints
    errors.init_app(app)
    app.register_blueprint(discovery.bp)
    app.register_blueprint(services.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(analytics.bp)  # its own check applies the hooks' client auth
    app.register_blueprint(rule_pages.bp)  # open: the pages hold no patient data

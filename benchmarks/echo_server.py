"""The floor for HTTP benchmarks: an endpoint on the same server stack (gunicorn, same worker
settings, Flask) that answers a POST with the bytes it was sent."""

from __future__ import annotations

import sys

from flask import Flask, Response, request

from cds_service.server import run


def create_echo_app() -> Flask:
    app = Flask("echo")

    @app.post("/cds-services/<service_id>")
    def echo(service_id: str) -> Response:
        return Response(request.get_data(), mimetype="application/json")

    @app.get("/cds-services")
    def discovery() -> Response:
        return Response(b'{"services": []}', mimetype="application/json")

    return app


if __name__ == "__main__":
    host, port, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sys.exit(run(host, port, workers, app_factory=create_echo_app))

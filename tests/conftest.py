"""The wiring of the shared test support (tests/support/, one job per module) as plugins.

Helpers are imported from their modules: ``from tests.support.live_server import LiveServer``,
``from tests.support.examples import load_example``, ``from tests.support.logs import
register_secret``."""

pytest_plugins = [
    "tests.support.environment",  # no user's data folder nor database
    "tests.support.logs",  # every log line of the run scanned for patient data and tokens
    "tests.support.hook_contract",  # every hook response checked against CDS Hooks 2.0
    "tests.support.slow",  # the slow marker on live-server, wheel, container, ... tests
    "tests.support.app",  # app, client
    "tests.support.live_server",  # live_server
    "tests.support.jwks",  # jwks_server, auth_live_server, auth_app
    "tests.support.wheel",  # built_wheel, wheel_venv
    "tests.support.browser",  # chromium
]

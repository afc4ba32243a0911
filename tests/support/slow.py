"""The ``slow`` marker, put on every test that starts something heavy: ``cds-service serve``
(a live server), a wheel or container build, schemathesis, the Medplum FHIR server, headless
Chromium, or any other child process (the ``cds-service`` command, a script, a second Python:
each a new interpreter importing the service, a second or more apiece).
``pytest -m "not slow"`` is then the fast subset (docs/testing.md).

A test is slow when it, or any fixture it uses (directly or through other fixtures), is named
in ``SLOW_FIXTURES``, or when its code, or the code of the functions and classes of its own
module that it calls, names one of ``SLOW_NAMES``; a test may also be marked slow by hand. The
test files need no marks of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import CodeType, FunctionType

import pytest

_INSTALLED = {"site-packages", "dist-packages"}  # where pytest and its plugins live

# Fixtures that start something heavy, by name, and what they start.
SLOW_FIXTURES = {
    "live_server": "cds-service serve (tests/support/live_server.py)",
    "auth_live_server": "cds-service serve with client authentication on (tests/support/jwks.py)",
    "built_wheel": "a wheel built from this checkout (tests/support/wheel.py)",
    "wheel_venv": "a virtual environment with that wheel installed (tests/support/wheel.py)",
    "chromium": "headless Chromium (tests/support/browser.py)",
    "fhir": "the Medplum FHIR servers (tests/test_fhir_fetch.py)",
    "image_wheel": "the container's builder stage replayed, a wheel build (test_container.py)",
    "newcomer": "the README's Quick start: an install and a server (tests/test_readme.py)",
}

# A test or fixture that names one of these in its own code starts the heavy thing itself.
SLOW_NAMES = {
    "LiveServer": "cds-service serve, a server of its own (tests/support/live_server.py)",
    "schemathesis": "schemathesis, loading the OpenAPI document or fuzzing a server",
    "subprocess": "a child process: the cds-service command, a script, another Python",
    "cds_command": "the cds-service command in a child process (tests/support/live_server.py)",
}


def _names_in(code: CodeType) -> Iterator[str]:
    yield from code.co_names
    for constant in code.co_consts:
        if isinstance(constant, CodeType):  # nested functions, lambdas, comprehensions
            yield from _names_in(constant)


def _names_reached(function: FunctionType, seen: set) -> Iterator[str]:
    """The names in ``function``'s code and in the functions and classes of its own module that
    it calls (a test calling its module's ``run_the_command`` helper starts that command)."""
    for name in _names_in(function.__code__):
        yield name
        target = function.__globals__.get(name)
        if getattr(target, "__module__", None) != function.__module__ or id(target) in seen:
            continue
        seen.add(id(target))
        methods = vars(target).values() if isinstance(target, type) else (target,)
        for method in methods:
            if isinstance(method, FunctionType):
                yield from _names_reached(method, seen)


def _names_a_slow_thing(function) -> bool:
    """Read in the suite's own tests and fixtures only: pytest's and plugins' fixtures start
    what they start on their own terms."""
    if not isinstance(function, FunctionType):
        return False
    if _INSTALLED.intersection(Path(function.__code__.co_filename).parts):
        return False
    return not SLOW_NAMES.keys().isdisjoint(_names_reached(function, set()))


def is_slow(item: pytest.Item) -> bool:
    if item.get_closest_marker("slow") is not None:
        return True
    if not SLOW_FIXTURES.keys().isdisjoint(getattr(item, "fixturenames", ())):
        return True
    if _names_a_slow_thing(getattr(item, "function", None)):
        return True
    info = getattr(item, "_fixtureinfo", None)
    definitions = info.name2fixturedefs.values() if info is not None else ()
    return any(_names_a_slow_thing(fixture.func) for defs in definitions for fixture in defs)


@pytest.hookimpl(tryfirst=True)  # before -m reads the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if is_slow(item):
            item.add_marker(pytest.mark.slow)

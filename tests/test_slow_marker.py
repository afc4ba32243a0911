"""The ``slow`` marker (tests/support/slow.py): a test that starts a live server or another child
process, builds a wheel, runs schemathesis or drives Chromium is collected as slow, through
whichever fixture or helper starts it, and ``pytest -m "not slow"`` leaves it out."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.slow import SLOW_FIXTURES

pytest_plugins = ["pytester"]

TESTS = Path(__file__).resolve().parent

EXAMPLE_MODULE = '''
import subprocess

import pytest

from tests.support.live_server import LiveServer


@pytest.fixture
def live_server():
    return "started"


@pytest.fixture
def through_live_server(live_server):
    return live_server


@pytest.fixture
def own_server():
    return LiveServer  # a fixture starting a server of its own


def test_uses_live_server(live_server):
    pass


def test_uses_it_through_another_fixture(through_live_server):
    pass


def test_uses_a_fixture_starting_its_own_server(own_server):
    pass


def test_starts_its_own_server():
    assert LiveServer


def run_the_command():
    return subprocess.run(["true"])


def test_runs_a_command_through_a_helper_of_its_module():
    assert run_the_command


@pytest.mark.parametrize("n", [1, 2])
def test_in_process(n):
    pass
'''


@pytest.fixture()
def example(pytester) -> pytest.Pytester:
    """A suite of its own with the marker registered (as pyproject.toml does) and the plugin."""
    pytester.makeini("[pytest]\naddopts = --strict-markers\nmarkers =\n    slow: heavy\n")
    pytester.makeconftest('pytest_plugins = ["tests.support.slow"]\n')
    pytester.makepyfile(test_example=EXAMPLE_MODULE)
    return pytester


@pytest.fixture()
def collected(example) -> dict[str, bool]:
    items, _ = example.inline_genitems()
    return {item.name: item.get_closest_marker("slow") is not None for item in items}


def test_a_test_using_a_server_starting_fixture_is_collected_as_slow(collected):
    assert collected == {
        "test_uses_live_server": True,
        "test_uses_it_through_another_fixture": True,
        "test_uses_a_fixture_starting_its_own_server": True,
        "test_starts_its_own_server": True,
        "test_runs_a_command_through_a_helper_of_its_module": True,
        "test_in_process[1]": False,
        "test_in_process[2]": False,
    }


def test_not_slow_leaves_the_slow_tests_out(example):
    result = example.runpytest_inprocess("-m", "not slow", "-q")
    result.assert_outcomes(passed=2, deselected=5)


def _fixtures_defined_in(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
                "fixture" in ast.unparse(decorator) for decorator in node.decorator_list):
            names.add(node.name)
    return names


def test_every_slow_fixture_named_is_defined_in_the_suite():
    """A renamed fixture would silently leave its tests in the fast subset."""
    defined = set().union(*(_fixtures_defined_in(path) for path in TESTS.rglob("*.py")))
    assert set(SLOW_FIXTURES) <= defined, set(SLOW_FIXTURES) - defined

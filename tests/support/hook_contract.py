"""Every hook response a test sees is checked against the CDS Hooks 2.0 card and action
contract (tests/contract.py): through the Flask test client, through ``requests`` to a server on
loopback (LiveServer), and from the pipeline in process. Installed as a plugin (conftest.py)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import orjson
import requests
from flask import Flask
from flask.testing import FlaskClient

from cds_service.hooks.pipeline import HookPipeline
from tests.contract import cds_hooks_problems

_HOOK_PATH = re.compile(r"^/cds-services/[^/]+/?$")


class CdsHooksContractError(AssertionError):
    """A hook response a test received breaks the CDS Hooks 2.0 card or action contract."""


def check_hook_response(method: str, path: str, status: int, body: bytes) -> None:
    if method != "POST" or status != 200 or not _HOOK_PATH.match(path):
        return
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise CdsHooksContractError(f"POST {path} answered 200 with a body that is not JSON") \
            from None
    problems = cds_hooks_problems(decoded)
    if problems:
        raise CdsHooksContractError(f"POST {path}: {problems[:10]}")


class ContractCheckingClient(FlaskClient):
    """The Flask test client, checking every hook response it returns."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        check_hook_response(response.request.method, response.request.path,
                            response.status_code, response.get_data())
        return response


def pytest_configure(config) -> None:
    Flask.test_client_class = ContractCheckingClient
    send = requests.Session.send

    def checked_send(self, request, **kwargs):
        response = send(self, request, **kwargs)
        parts = urlsplit(request.url)
        if not kwargs.get("stream") and parts.hostname in ("127.0.0.1", "::1", "localhost"):
            check_hook_response(request.method, parts.path, response.status_code,
                                response.content)
        return response

    requests.Session.send = checked_send
    evaluate = HookPipeline.evaluate

    def checked_evaluate(self, *args, **kwargs):
        result = evaluate(self, *args, **kwargs)
        problems = cds_hooks_problems(result.response)
        if problems:
            raise CdsHooksContractError(f"pipeline response: {problems[:10]}")
        return result

    HookPipeline.evaluate = checked_evaluate

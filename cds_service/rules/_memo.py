"""Answers shared by several rules, worked out once per request.

Several rules ask the same question of one request (is the payer Medicare? which diagnoses are
nonspecific low back pain?). The answer is kept on the request's facts object, so that nothing
read from a patient's record outlives the request.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from ..facts import EncounterFacts
from ..terminology import Terminology

T = TypeVar("T")


def request_memo(facts: EncounterFacts) -> dict[Any, Any]:
    return facts.__dict__.setdefault("_rules_memo", {})


def per_request(function: Callable[[EncounterFacts, Terminology], T]
                ) -> Callable[[EncounterFacts, Terminology], T]:
    """Cache ``function(facts, terminology)`` on ``facts``. Return immutable values from it:
    every caller gets the same object."""
    key = (function.__module__, function.__qualname__)

    @functools.wraps(function)
    def cached(facts: EncounterFacts, terminology: Terminology) -> T:
        memo = request_memo(facts)
        if key not in memo:
            memo[key] = function(facts, terminology)
        return memo[key]

    return cached

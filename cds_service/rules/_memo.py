"""Answers shared by several rules, worked out once per evaluation of an encounter's rules.

Several rules ask the same question of one request (is the payer Medicare? what does the
uncoded diagnosis's plan say?), and a Condition whose removal one card already carries is not
removed again by the next. ``run_rules`` owns one ``EvaluationMemo`` for its call
(``evaluation_memo``) and the helpers read it with ``current_memo``: it lives only while that
call runs, so nothing read from a patient's record outlives the request. A rule evaluated on its
own, outside ``run_rules``, works every answer out afresh.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..facts import Diagnosis, EncounterFacts
from ..terminology import Terminology

T = TypeVar("T")


@dataclass
class EvaluationMemo:
    """What the rules of one evaluation share."""

    # the answers of the ``per_evaluation`` functions, by function
    answers: dict[tuple[str, str], Any] = field(default_factory=dict)
    # the Conditions (by id()) whose removal a suggestion already carries (``_suggestions``)
    claimed: set[int] = field(default_factory=set)
    # the encounter's diagnoses by coded code, and the coded codes in an Excludes1 relation
    # with a new code, by new code (``_suggestions``)
    holders: dict[str, list[Diagnosis]] | None = None
    excluding: dict[str, list] = field(default_factory=dict)


_current: ContextVar[EvaluationMemo | None] = ContextVar("rules_evaluation_memo", default=None)


@contextmanager
def evaluation_memo() -> Iterator[EvaluationMemo]:
    """One memo for the rules evaluated inside the ``with`` block."""
    memo = EvaluationMemo()
    token = _current.set(memo)
    try:
        yield memo
    finally:
        _current.reset(token)


def current_memo() -> EvaluationMemo:
    """The memo of the evaluation under way; outside one, a memo for this call only."""
    return _current.get() or EvaluationMemo()


def per_evaluation(function: Callable[[EncounterFacts, Terminology], T]
                   ) -> Callable[[EncounterFacts, Terminology], T]:
    """Work ``function(facts, terminology)`` out once per evaluation. Return immutable values
    from it: every caller gets the same object."""
    key = (function.__module__, function.__qualname__)

    @functools.wraps(function)
    def cached(facts: EncounterFacts, terminology: Terminology) -> T:
        answers = current_memo().answers
        if key not in answers:
            answers[key] = function(facts, terminology)
        return answers[key]

    return cached

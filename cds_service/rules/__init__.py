"""Rules: small pure functions, one per guideline, over an encounter's facts.

Each rule is a module in this package defining ``RULE_ID`` (the card's ``source.topic.code`` and
the name of its template in ``cards/``), ``HOOKS`` (the hooks it runs on), ``SOURCES`` (ids of
the public sources it rests on, in ``valuesets/sources.json``), ``VALUESETS`` (the knowledge
files it reads, by name) and ``evaluate(facts, terminology) -> list[Finding]``, with the
guideline it enforces cited in its docstring (docs/sources.md). Modules are discovered, so
adding a rule is one module and one template.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from ..deadline import check_deadline
from ..facts import EncounterFacts
from ..terminology import Terminology
from ._findings import MAX_FINDINGS_PER_RULE, Action, ActionType, Finding, Suggestion

log = logging.getLogger(__name__)

Evaluate = Callable[[EncounterFacts, Terminology], list[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    hooks: frozenset[str]
    evaluate: Evaluate
    module: ModuleType


def _discover() -> list[Rule]:
    rules = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        rules.append(Rule(module.RULE_ID, frozenset(module.HOOKS), module.evaluate, module))
    ids = [rule.id for rule in rules]
    if len(ids) != len(set(ids)):
        raise RuntimeError(f"Two rule modules share a RULE_ID: {sorted(ids)}")
    return rules


RULES: list[Rule] = _discover()

__all__ = ["RULES", "Action", "ActionType", "Finding", "Rule", "Suggestion", "run_rules"]


def run_rules(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    findings: list[Finding] = []
    for rule in RULES:
        if facts.hook in rule.hooks:
            check_deadline()  # the call's time budget bites between rules too
            found = rule.evaluate(facts, terminology)
            if len(found) >= MAX_FINDINGS_PER_RULE:
                log.warning("rule %s: %d findings or more on one call; the first kept",
                            rule.id, MAX_FINDINGS_PER_RULE)
                found = found[:MAX_FINDINGS_PER_RULE]
            findings.extend(found)
    return findings

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
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

from ..facts import EncounterFacts
from ..terminology import Terminology

ActionType = Literal["create", "update", "delete"]


@dataclass
class Action:
    type: ActionType
    # key of the action's wording in the rule's template ([actions] table)
    description: str
    resource: dict | None = None
    resource_id: str | None = None  # for delete: "Condition/c1"


@dataclass
class Suggestion:
    label: str  # key of the label's wording in the rule's template ([labels] table)
    actions: list[Action]
    params: dict[str, Any] = field(default_factory=dict)
    is_recommended: bool = False


@dataclass
class Finding:
    rule_id: str
    params: dict[str, Any] = field(default_factory=dict)
    suggestions: list[Suggestion] = field(default_factory=list)
    # None: the template's default indicator
    indicator: Literal["info", "warning", "critical"] | None = None


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


def run_rules(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    findings: list[Finding] = []
    for rule in RULES:
        if facts.hook in rule.hooks:
            findings.extend(rule.evaluate(facts, terminology))
    return findings

"""The rules this service runs: every module of ``cds_service.rules`` whose name does not start
with an underscore, discovered once (``RULES``), and the one call that runs those of a hook
over an encounter's facts (``run_rules``)."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ..deadline import check_deadline
from ..facts import EncounterFacts
from ..terminology import Terminology
from ._findings import MAX_FINDINGS_PER_RULE, Finding
from ._memo import evaluation_memo

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
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]),
                       key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__package__}.{info.name}")
        rules.append(Rule(module.RULE_ID, frozenset(module.HOOKS), module.evaluate, module))
    ids = [rule.id for rule in rules]
    if len(ids) != len(set(ids)):
        raise RuntimeError(f"Two rule modules share a RULE_ID: {sorted(ids)}")
    return rules


RULES: list[Rule] = _discover()


def run_rules(facts: EncounterFacts, terminology: Terminology) -> list[Finding]:
    """The findings of every rule of ``facts.hook``, in the order of ``RULES``; the rules share
    one memo for the call (``_memo``)."""
    findings: list[Finding] = []
    with evaluation_memo():
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

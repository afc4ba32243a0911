"""What a rule returns: findings with parameters and suggested FHIR actions, never wording (the
wording is the rule's template in ``cards/``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ..facts.evidence import Evidence

# A rule that finds more than this on one call is looking at an abnormal record (thousands of
# duplicated diagnoses): it stops there, since the rest would only repeat the first ones and
# building them all would cost more than the call's time budget.
MAX_FINDINGS_PER_RULE = 25

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
    # the resource the finding is about ("Condition/c1", "ServiceRequest/o1"), when it has one
    target: str | None = None
    # what the finding rests on, as the facts layer read it (facts.evidence): the card's "Why"
    # section, and references and offsets for programs; affirmed items first
    evidence: list[Evidence] = field(default_factory=list)

"""What a card's suggestions change in the codes of the record: the codes they take away and
the codes they put in their place, for the audit's findings and its summary of code changes."""

from __future__ import annotations


def code_change(card: dict, by_reference: dict[str, dict]) -> tuple[str, str]:
    """The codes a card's suggestions take away and the codes they put in their place:
    ("M54.5", "M54.50 | M54.51 | M54.59"), one alternative per suggestion."""
    before: list[str] = []
    suggested: list[str] = []
    for suggestion in card.get("suggestions", []):
        added: list[str] = []
        for action in suggestion.get("actions", []):
            kind, resource = action.get("type"), action.get("resource")
            if kind == "update" and isinstance(resource, dict):
                original = by_reference.get(f"{resource.get('resourceType')}/"
                                            f"{resource.get('id')}")
                old, new = _codes(original), _codes(resource)
                before += [code for code in old if code not in new]
                added += [code for code in new if code not in old]
            elif kind == "create" and isinstance(resource, dict):
                added += _codes(resource)
            elif kind == "delete":
                for reference in action.get("resourceId", []):
                    before += _codes(by_reference.get(reference))
        if added:
            suggested.append("+".join(dict.fromkeys(added)))
    return " | ".join(dict.fromkeys(before)), " | ".join(dict.fromkeys(suggested))


def _codes(resource: dict | None) -> list[str]:
    if not isinstance(resource, dict):
        return []
    concept = resource.get("code")
    codings = concept.get("coding", []) if isinstance(concept, dict) else []
    return [coding["code"] for coding in codings
            if isinstance(coding, dict) and isinstance(coding.get("code"), str)]

"""Choosing the more specific ICD-10-CM codes a low back diagnosis's picture supports.

The documentation itself is read before the rules run (``facts.documentation``); this module
only turns a picture into codes, the same way for a diagnosis coded M54.50 (the specificity
rules) and for one coded only in SNOMED CT or WHO ICD-10 (``icd10cm-missing``).

Sources: CDC ICD-10-CM tabular (M54.4- Lumbago with sciatica, M54.3- Sciatica, M54.1-
Radiculopathy, M51.1- disc disorders with radiculopathy and its inclusion term "Sciatica due to
intervertebral disc disorder", M51.2- displacement and its inclusion term "Lumbago due to
displacement of intervertebral disc", M51.36-/M51.37- degeneration by pain pattern, S39.012- and
S33.5- with their 7th characters); ICD-10-CM Official Guidelines I.B.9 (combination codes),
I.B.13 (laterality: no bilateral code, assign right and left), I.C.19.a (7th character).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..facts import Diagnosis
from ..facts.low_back import speaking_family
from ..facts.picture import Documented
from ..terminology import Terminology
from ._codes import billable_on, finding_code


@dataclass(frozen=True)
class Option:
    """One code a suggestion offers: ``label`` names its wording, ``also`` a second code for
    the other side (bilateral sciatica)."""

    label: str
    code: str
    also: str | None = None


_SCIATICA_WITH_BACK_PAIN = {"right": "sciatica-right", "left": "sciatica-left",
                            None: "sciatica-unspecified-side"}
_SCIATICA_ALONE = {"right": "sciatica-only-right", "left": "sciatica-only-left",
                   None: "sciatica-only-unspecified-side"}
_REGION_FINDING = {"lumbar": "radiculopathy-lumbar", "lumbosacral": "radiculopathy-lumbosacral"}


def _regions(found: set[str]) -> list[str]:
    return sorted(found) if len(found) == 1 else ["lumbar", "lumbosacral"]


def radicular_options(seen: Documented, day: date, terminology: Terminology) -> list[Option]:
    """Sciatica by side (M54.4- with low back pain, M54.3- without), radiculopathy by level
    (M54.16 / M54.17); the provider's own word first."""
    radicular = seen.radicular
    table = _SCIATICA_WITH_BACK_PAIN if seen.back_pain else _SCIATICA_ALONE
    sciatica: list[Option] = []
    if radicular.kinds & {"sciatica", "radiating"}:
        if radicular.side == "bilateral":
            right = finding_code(terminology, table["right"], day)
            left = finding_code(terminology, table["left"], day)
            if right and left:
                sciatica.append(Option("sciatica_bilateral", right, also=left))
        else:
            code = finding_code(terminology, table[radicular.side], day)
            if code:
                label = "sciatica_side" if radicular.side else "sciatica_unknown_side"
                sciatica.append(Option(label, code))
    radiculopathy: list[Option] = []
    if "radiculopathy" in radicular.kinds:
        for region in _regions(radicular.regions):
            code = finding_code(terminology, _REGION_FINDING[region], day)
            if code:
                radiculopathy.append(Option("radiculopathy", code))
    if "radiculopathy" in radicular.kinds and "sciatica" not in radicular.kinds:
        return radiculopathy + sciatica
    return sciatica + radiculopathy


def _disc_findings(kinds: set[str], radicular: set[str], back_pain: bool) -> list[str]:
    """The documented-finding keys to suggest, best first (without the region suffix)."""
    nerve = bool(radicular & {"sciatica", "radiculopathy"})
    leg_pain = bool(radicular)
    with_leg = "disc-degeneration-back-and-leg-pain" if back_pain else (
        "disc-degeneration-leg-pain")
    if "displacement" in kinds:
        if leg_pain:
            return ["disc-radicular"]
        chosen = ["disc-displacement"]
        if "degeneration" in kinds and back_pain:
            chosen.append("disc-degeneration-back-pain")
        return chosen
    if nerve:
        # sciatica or radiculopathy from the disc: M51.1- (its inclusion term "Sciatica due to
        # intervertebral disc disorder"); a degeneration code would leave it uncoded
        return ["disc-radicular"]
    if leg_pain:
        return [with_leg, "disc-radicular"]
    return ["disc-degeneration-back-pain" if back_pain else "disc-degeneration-no-pain"]


def disc_options(seen: Documented, day: date, terminology: Terminology) -> list[Option]:
    """A disc disorder by kind, radicular features, pain pattern and level: with radiculopathy
    or sciatica M51.1-, a displacement without M51.2-, a degeneration M51.36-/M51.37-."""
    options: list[Option] = []
    for key in _disc_findings(seen.disc.kinds, seen.radicular.kinds, seen.back_pain):
        for region in _regions(seen.disc.regions):
            code = finding_code(terminology, f"{key}-{region}", day)
            if code and all(o.code != code for o in options):
                options.append(Option(key.replace("-", "_"), code))
    return options


def injury_options(seen: Documented, day: date, terminology: Terminology) -> list[Option]:
    """A strain (S39.012-) or sprain (S33.5XX-), the 7th character by phase of care; both when
    only a mechanism (a fall, lifting) is documented."""
    injury = seen.injury
    phase = "subsequent" if injury.subsequent else "initial"
    kinds = [k for k in ("strain", "sprain") if k in injury.kinds] or ["strain", "sprain"]
    options = []
    for kind in kinds:
        code = finding_code(terminology, f"{kind}-{phase}", day)
        if code:
            options.append(Option(kind if injury.kinds else f"{kind}_if", code))
    return options


def vertebrogenic_options(seen: Documented, day: date, terminology: Terminology
                          ) -> list[Option]:
    code = finding_code(terminology, "vertebrogenic-low-back-pain", day) if (
        seen.vertebrogenic) else None
    return [Option("replace_with", code)] if code else []


def more_specific_options(seen: Documented, day: date, terminology: Terminology
                          ) -> list[Option]:
    """What the documentation supports beyond the diagnosis's own code, by the family that
    speaks for it; [] when nothing more (or when the encounter already codes it)."""
    owner = speaking_family(seen)
    if owner == "injury":
        return [] if seen.injury.specified else injury_options(seen, day, terminology)
    if owner == "disc":
        return [] if seen.disc.specified else disc_options(seen, day, terminology)
    if owner == "radicular":
        return [] if seen.radicular.specified else radicular_options(seen, day, terminology)
    return vertebrogenic_options(seen, day, terminology)


_LUMBOSACRAL_DISC = ("M51.27", "M51.37")


def disc_radicular_option(seen: Documented, code: str, day: date, terminology: Terminology
                          ) -> Option | None:
    """A disc coded without its radiculopathy (M51.2-, M51.3-) while sciatica or radiculopathy
    is documented: M51.1- for the coded level."""
    if not code.startswith(("M51.2", "M51.3")) or not seen.radicular.kinds & {
            "sciatica", "radiculopathy"}:
        return None
    region = "lumbosacral" if code.startswith(_LUMBOSACRAL_DISC) else "lumbar"
    found = finding_code(terminology, f"disc-radicular-{region}", day)
    return Option("disc_radicular", found) if found else None


def default_options(diagnosis: Diagnosis, day: date, terminology: Terminology
                    ) -> list[Option]:
    """An uncoded diagnosis's candidates, as billable on ``day``."""
    options: list[Option] = []
    for candidate in diagnosis.candidates:
        code = billable_on(terminology, candidate, day)
        if code and all(o.code != code for o in options):
            options.append(Option("candidate", code))
    return options

"""Side (right, left, bilateral) and level (lumbar, lumbosacral) from the reader's words."""

from __future__ import annotations

from ..text import Reading


def regions_in(reading: Reading, sentences: set[int]) -> set[str]:
    """lumbar / lumbosacral, from the level words in the sentences that state the finding."""
    regions = set()
    if reading.present_in(sentences, "lumbosacral_level"):
        regions.add("lumbosacral")
    if reading.present_in(sentences, "lumbar_level"):
        regions.add("lumbar")
    return regions


def regions_of_words(texts: list[str], reader) -> set[str]:
    """lumbar / lumbosacral from the words of the codes a finding was coded with (a coded
    lumbar code says "lumbar region")."""
    regions = set()
    for text in texts:
        if not text:
            continue
        if reader.read(text).present("lumbosacral_level"):
            regions.add("lumbosacral")
        elif "lumbar" in text.lower():
            regions.add("lumbar")
    return regions


def one_side(sides: set[str]) -> str | None:
    if "bilateral" in sides or {"right", "left"} <= sides:
        return "bilateral"
    if "right" in sides:
        return "right"
    if "left" in sides:
        return "left"
    return None

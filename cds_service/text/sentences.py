"""A text cut into sentences and sections: where the section headers are ("HPI:", "A/P:", a
header alone on its line), where each sentence begins and ends, and what a section with content
documents ("A: lumbar strain" documents an assessment)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .positions import WORD_CHAR
from .reading import Mention
from .triggers import HeaderPatterns, Section

# a break: the spaces after a full stop, "!", "?" or ";", or line breaks (the punctuation is
# matched first, not looked behind for at every character, so that a search skips fast)
_SENTENCE_BREAK = re.compile(r"[.!?;](\s+)|\n+")
_HEADER_COLON = re.compile(":(?!//)")
_LINE = re.compile(r"[^\n]+")


def find_headers(text: str, header_patterns: list[HeaderPatterns]) -> list[tuple[int, int, str]]:
    """(start, end, section) of every section header, in order, none overlapping."""
    found = []
    colons = [m.start() for m in _HEADER_COLON.finditer(text)]
    lines = [m.span() for m in _LINE.finditer(text)]
    for headers in header_patterns:
        matches = [headers.before_colon.search(text, max(0, colon - headers.longest), colon)
                   for colon in colons]
        matches += [headers.line.fullmatch(text, start, end) for start, end in lines
                    if end - start <= headers.longest]
        for match in matches:
            if match is None:
                continue
            words = " ".join(match.group("header").split())
            name = headers.names.get(words) or headers.names.get(words.lower())
            if name is not None:
                found.append((match.start("header"), match.end("header"), name))
    found.sort()
    kept: list[tuple[int, int, str]] = []
    for header in found:
        if not kept or header[0] >= kept[-1][1]:
            kept.append(header)
    return kept


def sentence_spans(text: str, header_starts: list[int]) -> Iterator[tuple[int, int]]:
    """The sentences' spans: cut at every sentence break and before every header."""
    cuts = [m.span(1) if m.start(1) >= 0 else m.span() for m in _SENTENCE_BREAK.finditer(text)]
    cuts += [(h, h) for h in header_starts]
    cuts.sort()
    position = 0
    for cut_start, cut_end in cuts:
        if cut_start >= position:
            yield position, cut_start
            position = cut_end
        else:
            position = max(position, cut_end)
    yield position, len(text)


def section_mention(section: Section, index: int, text: str, start: int, end: int,
                    header: tuple[int, int, str], found: list[Mention],
                    next_header: int) -> list[Mention]:
    """The concept a section documents when it has content ("A: lumbar strain")."""
    if section.documents is None:
        return []
    content = text[header[1]:next_header].lstrip(" \t:-")
    if not WORD_CHAR.search(content) or (section.empty is not None
                                         and section.empty.match(content.strip())):
        return []
    h0, h1 = header[0] - start, header[1] - start
    if any(m.concept == section.documents and m.start < h1 and h0 < m.end for m in found):
        return []  # the header's words already are a term of the concept ("Assessment:")
    return [Mention(section.documents, "present", None, index, h0, h1, text[header[0]:
                    header[1]], text_start=header[0], text_end=header[1],
                    sentence_start=start, sentence_end=end, section=section.name)]

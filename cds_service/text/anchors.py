"""The index of where each trigger pattern can begin in a sentence, built in one pass over the
sentence's words, with a bounded memo of the words seen."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from .patterns import Prefiltered
from .positions import WORD


class IndexedSentence(str):
    """A sentence with, for each pattern, the positions where it can begin (AnchorIndex), and
    the starts of its words."""

    anchored: dict[Prefiltered, list[tuple[int, Callable]]] | None
    word_starts: list[int]


_NOTHING: tuple = ((), ())  # a word that begins no pattern
# The only characters that Python's re.IGNORECASE matches to ASCII word characters, besides
# ASCII itself (a test scans every code point): looked up as the letters they match.
FOLDS_TO_ASCII = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


class AnchorIndex:
    """Where each pattern can begin, found in one pass over a sentence's words: the anchors of
    every pattern (the literal beginnings of their terms' first words, in lower case) looked up
    by the prefixes of each word, and the raw terms that begin at a word start looked up by
    their possible first characters. What a word's beginning holds is remembered, so a word
    seen before costs one lookup. Most patterns have no anchor in a given sentence and are then
    not tried at all."""

    _MEMO_LIMIT = 50_000  # distinct words remembered (forgotten when full ...)
    _MEMO_SECONDS = 300  # ... and every 5 minutes

    def __init__(self, patterns: list[Prefiltered]):
        # anchors made of word characters only ("radiat", "l5") are looked up by the prefixes
        # of each word; the few with others ("x-ray", "l5-s1") by their first word ("x", "l5"),
        # which must be the whole word, and then compared with the text
        self._by_prefix: dict[str, list[tuple[Prefiltered, str]]] = {}
        self._spanning: dict[str, list[tuple[str, list[tuple[Prefiltered, str]]]]] = {}
        spanning: dict[str, list[tuple[Prefiltered, str]]] = {}
        self._first_classes: list[tuple[re.Pattern, Prefiltered, str]] = []
        for pattern in patterns:
            for term, anchors in pattern.term_anchors.items():
                for anchor in anchors:
                    table = self._by_prefix if WORD.fullmatch(anchor) else spanning
                    table.setdefault(anchor, []).append((pattern, term))
            self._first_classes += [(first, pattern, term)
                                    for term, first in pattern.first_classes.items()]
        for anchor, owners in spanning.items():
            leading = WORD.match(anchor).group()
            self._spanning.setdefault(leading, []).append((anchor, owners))
        self._longest = max(1, max(map(len, [*self._by_prefix, *self._spanning]), default=0))
        self._memo: dict[str, tuple[tuple[tuple[Prefiltered, Callable], ...], tuple]] = {}
        self._memo_since = time.monotonic()

    def _at_word(self, beginning: str) -> tuple[tuple[tuple[Prefiltered, Callable], ...], tuple]:
        """The patterns that can begin at a word beginning so (at most ``_longest`` chars),
        each with the matcher of its terms that can, and the anchors with other characters
        than word ones that may begin there."""
        folded = beginning.translate(FOLDS_TO_ASCII)
        found: dict[Prefiltered, set[str]] = {}
        for stop in range(1, len(folded) + 1):
            prefix = folded[:stop]
            if not prefix.isascii():
                break  # no ASCII anchor can match past a character that is not one
            for pattern, term in self._by_prefix.get(prefix.lower(), ()):
                found.setdefault(pattern, set()).add(term)
        for first, pattern, term in self._first_classes:
            if first.match(beginning):
                found.setdefault(pattern, set()).add(term)
        spanning = self._spanning.get(folded.lower(), ()) if folded.isascii() else ()
        if not found and not spanning:
            return _NOTHING
        return (tuple((pattern, pattern.matcher(frozenset(terms)))
                      for pattern, terms in found.items()), tuple(spanning))

    def sentence(self, text: str) -> IndexedSentence:
        sentence = IndexedSentence(text)
        anchored: dict[Prefiltered, list[tuple[int, Callable]]] = {}
        # the words and their starts, each list made in one pass in C
        words = WORD.findall(text)
        word_starts = [m.start() for m in WORD.finditer(text)]
        now = time.monotonic()
        if len(self._memo) > self._MEMO_LIMIT or now - self._memo_since > self._MEMO_SECONDS:
            # words come from notes: like the notes' readings, kept a few minutes at most
            self._memo, self._memo_since = {}, now
        memo, longest, nothing = self._memo, self._longest, _NOTHING
        get = memo.get
        for start, word in zip(word_starts, words, strict=True):
            found = get(word)
            if found is None:
                found = memo[word] = self._at_word(word[:longest]) or nothing
            if found is nothing:
                continue  # most words begin no pattern
            for pattern, matcher in found[0]:
                positions = anchored.get(pattern)
                if positions is None:
                    anchored[pattern] = [(start, matcher)]
                else:
                    positions.append((start, matcher))
            if found[1]:
                self._spanning_at(text, start, found, anchored)
        sentence.anchored = anchored
        sentence.word_starts = word_starts
        return sentence

    @staticmethod
    def _spanning_at(text: str, start: int, found: tuple, anchored: dict) -> None:
        terms: dict[Prefiltered, set[str]] = {}
        for anchor, owners in found[1]:
            if text[start:start + len(anchor)].translate(FOLDS_TO_ASCII).lower() == anchor:
                for pattern, term in owners:
                    terms.setdefault(pattern, set()).add(term)
        for pattern, more in terms.items():
            positions = anchored.setdefault(pattern, [])
            if positions and positions[-1][0] == start:  # with the word's own terms
                word_terms = next(set(t) for p, m in found[0] if p is pattern
                                  for t in [p.terms_of(m)])
                positions[-1] = (start, pattern.matcher(frozenset(word_terms | more)))
            else:
                positions.append((start, pattern.matcher(frozenset(more))))


"""The reader: applies the compiled triggers to texts, sentence by sentence, and remembers
the readings of recent notes for a few minutes (a bounded memo keyed by a digest)."""

from __future__ import annotations

import hashlib
import threading
from bisect import bisect_right
from dataclasses import replace
from pathlib import Path

from cachetools import TTLCache

from .anchors import AnchorIndex
from .compile import compile_triggers
from .patterns import spans_of
from .positions import SortedSpans, Words
from .reading import EMPTY_READING, STATUS_ORDER, Mention, Reading
from .scope import Scope
from .sentences import find_headers, section_mention, sentence_spans
from .sides import side_of
from .triggers import CONTEXT_KINDS, KIND_OF, STATUS_OF, Concept


class TextReader:
    """Compiled trigger terms from a directory of trigger files.

    ``max_characters`` and ``max_mentions_per_sentence`` override the trigger files' limits
    (the benchmarks read past them to measure the algorithm itself)."""

    def __init__(self, directory: Path, *, max_characters: int | None = None,
                 max_mentions_per_sentence: int | None = None):
        self.directory = directory
        triggers = compile_triggers(directory)
        self.groups = triggers.groups
        self.context = triggers.context
        if max_characters is not None:
            self.context.max_characters = max_characters
        if max_mentions_per_sentence is not None:
            self.context.max_mentions = max_mentions_per_sentence
        self.concepts = triggers.concepts
        self.concept_ids = triggers.concept_ids
        self._anchors_index = AnchorIndex(triggers.patterns)
        self._cache: TTLCache = TTLCache(maxsize=2048, ttl=300)
        self._cache_lock = threading.Lock()

    def read(self, *texts: str | None) -> Reading:
        mentions: list[Mention] = []
        last_sentence = -1
        for index, text in enumerate(texts):
            if not text:
                continue
            found = self._read_one(text).mentions
            if not found:
                continue
            # as Reading.__add__: the sentences of each text come after those of the last
            shift = last_sentence + 1 if mentions else 0
            if shift or index:
                found = tuple(replace(m, sentence=m.sentence + shift, text_index=index)
                              for m in found)
            mentions.extend(found)
            last_sentence = max(m.sentence for m in found)
        return Reading(tuple(mentions)) if mentions else EMPTY_READING

    def _read_one(self, text: str) -> Reading:
        # The same note comes back for each order signed and again at discharge: read it once
        # in a while. Bounded in size and time, so that notes do not linger in memory; the key
        # is a digest, so a long note is not kept twice.
        text = text[:self.context.max_characters]
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        with self._cache_lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        reading = self._read_uncached(text)
        with self._cache_lock:
            self._cache[key] = reading
        return reading

    def _read_uncached(self, text: str) -> Reading:
        text = text[:self.context.max_characters]
        headers = find_headers(text, self.context.headers)
        mentions: list[Mention] = []
        header_at = 0  # the next header not yet entered
        section: tuple[int, int, str] | None = None
        index = 0
        for start, end in sentence_spans(text, [h[0] for h in headers]):
            if not text[start:end].strip():
                continue
            while header_at < len(headers) and headers[header_at][0] <= start:
                section = headers[header_at]
                header_at += 1
            found = self._read_sentence(index, text, start, end, section)
            if section is not None and section[0] == start:
                found += section_mention(self.context.sections[section[2]], index, text,
                                         start, end, section, found,
                                         headers[header_at][0] if header_at < len(headers)
                                         else len(text))
            mentions.extend(found)
            index += 1
        return Reading(tuple(mentions))

    def _read_sentence(self, index: int, text: str, start: int, end: int,
                       header: tuple[int, int, str] | None) -> list[Mention]:
        ctx = self.context
        sentence = self._anchors_index.sentence(text[start:end])
        words = Words(sentence)
        found: list[tuple[tuple[int, int], Concept]] = []
        anchored = sentence.anchored
        for concept in self.concepts:
            if concept.pattern not in anchored and not concept.pattern.searched:
                continue  # no word of the sentence can begin one of its terms
            blocked, kept = None, 0
            for match in concept.pattern.finditer(sentence):
                span = match.span()
                if span[0] == span[1]:
                    continue
                if blocked is None:
                    blocked = _Blockers(concept, sentence, words)
                if not blocked(span):
                    found.append((span, concept))
                    kept += 1
                    if kept >= ctx.max_mentions:
                        break  # a later one of this concept cannot be among the first kept
        if not found:
            return []
        found.sort(key=lambda item: item[0])
        if len(found) > ctx.max_mentions:
            # past the cap only the context of the mentions kept is read: up to the widest
            # window after the last of them
            del found[ctx.max_mentions:]
            margin = 1 + max(ctx.window, ctx.post_window, ctx.side_window, ctx.list_item_words)
            limit = words.reach(found[-1][0][1], margin)
            sentence = self._anchors_index.sentence(sentence[:limit])
            words = Words(sentence)
        scope = Scope(self.context, sentence, words, found)
        section = ctx.sections[header[2]] if header is not None else None
        sides = {side: SortedSpans(spans_of(pattern, sentence))
                 for side, pattern in ctx.sides.items()}
        mentions = []
        for position, (span, concept) in enumerate(found):
            setting: dict[str, tuple[int, int]] = {}  # status -> the trigger's span
            for kind in CONTEXT_KINDS:
                trigger = scope.pre(kind, span[0], concept.group) or scope.post(kind, position)
                if trigger is not None:
                    setting.setdefault(STATUS_OF[kind], trigger)
            if section is not None and section.status is not None:
                setting.setdefault(section.status, (header[0] - start, header[1] - start))
            status = next((s for s in STATUS_ORDER if s in setting), "present")
            trigger = setting.get(status)
            side = side_of(sides, words, span, ctx.side_window) if concept.lateral else None
            mentions.append(Mention(
                concept.id, status, side, index, span[0], span[1], sentence[span[0]:span[1]],
                text_start=start + span[0], text_end=start + span[1],
                sentence_start=start, sentence_end=end,
                section=section.name if section is not None else None,
                set_aside_by=KIND_OF.get(status),
                trigger_start=start + trigger[0] if trigger else None,
                trigger_end=start + trigger[1] if trigger else None))
        return mentions


class _Blockers:
    """Whether a match of a concept is blocked: a blocker phrase close before or after it."""

    __slots__ = ("before", "after", "window", "words")

    def __init__(self, concept: Concept, sentence: str, words: Words):
        self.before = (SortedSpans(spans_of(concept.blockers_before, sentence))
                       if concept.blockers_before is not None else None)
        self.after = (SortedSpans(spans_of(concept.blockers_after, sentence))
                      if concept.blockers_after is not None else None)
        self.window = concept.blocker_window
        self.words = words

    def __call__(self, span: tuple[int, int]) -> bool:
        # a blocker may overlap the match ("pain when" before "when lifting"); the nearest one
        # is the last to start before the match (the spans' ends are sorted too)
        if self.before is not None:
            last = self.before.last_starting_before(span[0])
            if last is not None and self.words.between(min(last[1], span[0]),
                                                       span[0]) <= self.window:
                return True
        if self.after is not None:
            at = bisect_right(self.after.ends, span[1])
            if at < len(self.after.spans) and self.words.between(
                    span[1], max(self.after.starts[at], span[1])) <= self.window:
                return True
        return False


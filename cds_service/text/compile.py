"""Compiling the trigger files (``valuesets/text-triggers/*.json``) into patterns: the small
syntax of a term (words, ``word*``, ``{group}``, ``...``, ``re:``), the literal beginnings that
let a pattern be tried only where it can match, the context triggers and the section headers.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..data_files import read_json_object
from .patterns import Prefiltered, alternation, first_class
from .triggers import (
    CONTEXT_KINDS,
    STATUS_OF,
    CompiledTriggers,
    Concept,
    Context,
    HeaderPatterns,
    Section,
    TextTriggerError,
)

# where a header may begin: the start of the text or after a space or punctuation
_HEADER_BEFORE = r"(?<![^\s.;!?,])"


def compile_triggers(directory: Path) -> CompiledTriggers:
    """Every trigger file of ``directory``, checked and compiled; TextTriggerError names the
    file and the entry when one is malformed."""
    files = sorted(directory.glob("*.json"))
    if not files:
        raise TextTriggerError(f"{directory}: no trigger files found.")
    documents = [(path, read_trigger_file(path)) for path in files]
    groups: dict[str, list[str]] = {}
    for path, doc in documents:
        for name, terms in (doc.get("groups") or {}).items():
            if name in groups:
                raise TextTriggerError(f"{path.name}: groups.{name} is defined twice")
            if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
                raise TextTriggerError(f"{path.name}: groups.{name} must be a list of terms")
            groups[name] = terms
    compiler = TriggerCompiler(groups)
    context_docs = [(p, d) for p, d in documents if "context" in d]
    if len(context_docs) != 1:
        raise TextTriggerError(f"{directory}: exactly one trigger file needs 'context'")
    context = compiler.context(*context_docs[0])
    concepts: list[Concept] = []
    for path, doc in documents:
        for concept_id, spec in (doc.get("concepts") or {}).items():
            if any(c.id == concept_id for c in concepts):
                raise TextTriggerError(f"{path.name}: concepts.{concept_id} is defined twice")
            concepts.append(compiler.concept(path, concept_id, spec))
    compiled = CompiledTriggers(groups, context, concepts, compiler.patterns)
    for section in context.sections.values():
        if section.documents and section.documents not in compiled.concept_ids:
            raise TextTriggerError(f"{context_docs[0][0].name}: context.sections."
                                   f"{section.name}.documents: unknown concept "
                                   f"{section.documents!r}")
    return compiled


class TriggerCompiler:
    """Compiles terms against the named groups of the trigger files, and keeps every pattern
    it compiled (for the anchor index)."""

    def __init__(self, groups: dict[str, list[str]]):
        self.groups = groups
        self.gap_words = 8
        self.patterns: list[Prefiltered] = []

    def compile(self, terms: list[str], where: str) -> Prefiltered | None:
        compiled = self.compile_terms(terms, where)
        if compiled is not None:
            self.patterns.append(compiled)  # for the anchor index
        return compiled

    def compile_terms(self, terms: list[str], where: str) -> Prefiltered | None:
        if not terms:
            return None
        try:
            compiled = [(t, self._term(t, where)) for t in terms]
            pattern = alternation(a for _, a in compiled)
        except re.error as exc:
            raise TextTriggerError(f"{where}: bad term ({exc})") from None
        # Where can a match begin? At a word starting with one of the literal beginnings of
        # the terms' first words, or where one of the other terms (raw regexes, terms starting
        # with a pattern) matches (a search of those alone).
        anchors: set[str] = set()
        unanchored: list[str] = []
        term_anchors: dict[str, frozenset[str]] = {}
        for term, regex in compiled:
            beginnings = self._anchors([term])
            if beginnings is None:
                unanchored.append(regex)
            else:
                anchors |= beginnings
                term_anchors[regex] = term_anchors.get(regex, frozenset()) | {
                    a.lower() for a in beginnings}
        # in a sentence the reader indexes, raw terms that begin at a word start are found by
        # their first character; the others are searched, each alone (so that re can skip to
        # its literal first character)
        first_classes: dict[str, re.Pattern] = {}
        searched = []
        for regex in unanchored:
            first = first_class(regex)
            if first is None:
                searched.append(re.compile(regex, re.IGNORECASE))
            else:
                first_classes[regex] = first
        index = dict(term_anchors=term_anchors, first_classes=first_classes,
                     searched=tuple(searched))
        if not anchors:
            return Prefiltered(pattern, None, None, **index)
        literals = "|".join(re.escape(a) for a in sorted(anchors, key=len, reverse=True))
        starts = re.compile(rf"(?<!\w)(?:{literals})", re.IGNORECASE)
        return Prefiltered(pattern, starts, alternation(unanchored) if unanchored else None,
                            **index)

    def _anchors(self, terms: list[str], depth: int = 0) -> set[str] | None:
        """The literal beginnings of every term's first word, or None when a term has none
        (a raw regex, a term starting with punctuation): then there is nothing to prefilter."""
        anchors: set[str] = set()
        for term in terms:
            first = term.split()[0] if term.split() else ""
            if term.startswith("re:") or not first:
                return None
            if first.startswith("{") and first.endswith("}") and depth <= 2:
                inner = self._anchors(self.groups.get(first[1:-1], []), depth + 1)
                if inner is None:
                    return None
                anchors |= inner
                continue
            literal = first[:-1] if first.endswith("*") else first
            # cut before a character that is not ASCII ("lasègue": "las"): the index looks
            # words up by their ASCII beginnings
            literal = re.match(r"[\x00-\x7f]*", literal).group()
            if not literal or not re.match(r"\w", literal) or first == "...":
                return None
            anchors.add(literal)
        return anchors or None

    def _term(self, term: str, where: str, depth: int = 0) -> str:
        if not isinstance(term, str) or not term.strip():
            raise TextTriggerError(f"{where}: terms must be non-empty strings")
        if term.startswith("re:"):
            return term[3:]
        parts = []
        for token in term.split():
            if token == "...":
                parts.append(("gap", rf"(?:\W+\w+){{0,{self.gap_words}}}?"))
            elif token.startswith("{") and token.endswith("}"):
                name = token[1:-1]
                if name not in self.groups or depth > 2:
                    raise TextTriggerError(f"{where}: unknown group {{{name}}} in {term!r}")
                inner = "|".join(sorted((self._term(t, where, depth + 1)
                                         for t in self.groups[name]), key=len, reverse=True))
                parts.append(("word", f"(?:{inner})"))
            elif token.endswith("*") and len(token) > 1:
                parts.append(("word", re.escape(token[:-1]) + r"\w*"))
            else:
                parts.append(("word", re.escape(token)))
        body = ""
        for index, (kind, regex) in enumerate(parts):
            if index and kind == "word" and parts[index - 1][0] == "word":
                body += r"[\s\-]+"
            elif index and kind == "word":
                body += r"\W+"
            body += regex
        left = r"(?<!\w)" if re.match(r"\w", term) else ""
        right = r"(?!\w)" if re.search(r"\w$", term) else ""
        return f"{left}{body}{right}"

    def context(self, path: Path, doc: dict) -> Context:
        ctx = doc["context"]
        where = f"{path.name}: context"
        try:
            pre = {kind: self.compile(ctx[kind].get("pre", []), f"{where}.{kind}.pre")
                   for kind in CONTEXT_KINDS}
            post = {kind: self.compile(ctx[kind].get("post", []), f"{where}.{kind}.post")
                    for kind in CONTEXT_KINDS}
            pre_for_groups = {
                kind: {group: self.compile(terms, f"{where}.{kind}.pre_for_groups.{group}")
                       for group, terms in ctx[kind].get("pre_for_groups", {}).items() if terms}
                for kind in CONTEXT_KINDS}
            sides = {side: self.compile(terms, f"{where}.sides.{side}")
                     for side, terms in ctx["sides"].items()}
            limits = ctx.get("limits", {})
            window = int(ctx["window"])
            headers, sections = self._sections(ctx.get("sections", {}), f"{where}.sections")
            return Context(
                pre=pre, post=post, pre_for_groups=pre_for_groups,
                pseudo=self.compile(ctx.get("pseudo", []), f"{where}.pseudo"),
                terminators=self.compile(ctx.get("terminators", []), f"{where}.terminators"),
                window=window, post_window=int(ctx["post_window"]),
                list_item_words=int(ctx.get("list_item_words", window)),
                list_breakers=self.compile(ctx.get("list_breakers", []),
                                           f"{where}.list_breakers"),
                sides=sides, side_window=int(ctx["side_window"]),
                headers=headers, sections=sections,
                max_characters=int(limits.get("max_characters_per_text", 200_000)),
                max_mentions=int(limits.get("max_mentions_per_sentence", 400)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TextTriggerError(f"{where}: missing or malformed {exc}") from None

    def _sections(self, spec: dict, where: str
                  ) -> tuple[list[HeaderPatterns], dict[str, Section]]:
        """Header patterns: a header is followed by a colon ("A/P:"), or stands alone on its
        line. ``headers`` match in any case, ``abbreviations`` only as written ("A:", "PE:")."""
        sections: dict[str, Section] = {}
        by_case: dict[bool, dict[str, str]] = {True: {}, False: {}}
        for name, section in spec.items():
            if not isinstance(section, dict):
                raise TextTriggerError(f"{where}.{name}: must be an object")
            status = section.get("status")
            if status is not None and status not in STATUS_OF.values():
                raise TextTriggerError(f"{where}.{name}.status: unknown status {status!r}")
            empty = section.get("empty", [])
            sections[name] = Section(
                name=name, status=status, documents=section.get("documents"),
                empty=(re.compile("(?:" + "|".join(_phrase(e) for e in empty) + r")(?!\w)",
                                  re.IGNORECASE) if empty else None))
            for ignore_case, key in ((True, "headers"), (False, "abbreviations")):
                for header in section.get(key, []):
                    if not isinstance(header, str) or not header.strip():
                        raise TextTriggerError(f"{where}.{name}.{key}: headers are strings")
                    normal = " ".join(header.split())
                    by_case[ignore_case][normal.lower() if ignore_case else normal] = name
        patterns = []
        for ignore_case, names in by_case.items():
            if not names:
                continue
            choices = "|".join(_phrase(h) for h in sorted(names, key=len, reverse=True))
            flags = re.MULTILINE | (re.IGNORECASE if ignore_case else 0)
            # tried only before a colon and on short lines, not at every character
            patterns.append(HeaderPatterns(
                before_colon=re.compile(rf"{_HEADER_BEFORE}(?P<header>{choices})[ \t]*$",
                                        flags),
                line=re.compile(rf"[ \t]*(?P<header>{choices})[ \t]*", flags),
                names=names, longest=max(map(len, names)) + 8))
        return patterns, sections

    def concept(self, path: Path, concept_id: str, spec: dict) -> Concept:
        where = f"{path.name}: concepts.{concept_id}"
        if not isinstance(spec, dict) or not spec.get("terms"):
            raise TextTriggerError(f"{where}: terms are required")
        pattern = self.compile(spec["terms"], f"{where}.terms")
        assert pattern is not None
        return Concept(
            id=concept_id,
            group=spec.get("group", concept_id),
            lateral=bool(spec.get("lateral", False)),
            pattern=pattern,
            blockers_before=self.compile(spec.get("blockers_before", []),
                                         f"{where}.blockers_before"),
            blockers_after=self.compile(spec.get("blockers_after", []),
                                        f"{where}.blockers_after"),
            blocker_window=int(spec.get("blocker_window", 3)),
        )


def _phrase(words: str) -> str:
    """A header or phrase as a regex: its words, any spaces between."""
    return r"[ \t]+".join(re.escape(w) for w in words.split())


def read_trigger_file(path: Path) -> dict:
    doc = read_json_object(path, TextTriggerError, "a trigger file (a JSON object)")
    for required in ("name", "version", "description"):
        if not isinstance(doc.get(required), str) or not doc[required]:
            raise TextTriggerError(f"{path.name}: {required} is required")
    return doc

"""Reading a CDC ICD-10-CM tabular XML file into the compact table of ``codeset.py``.

``parse_tabular`` builds the same table from a CDC tabular XML file without simple-icd-10-cm:
it streams the file through expat (memory bounded by one element's text, not the file), refuses
a DOCTYPE or entity declaration (no entity expansion, no external entities), and follows the
package's reading of the tabular exactly, including the 7th-character codes it generates from
``sevenChrDef`` (``tests/terminology/test_tabular.py`` holds the two tables equal on the bundled
file).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO
from xml.parsers import expat

from ..errors import ServiceError
from .codeset import Table


class TabularError(ServiceError, ValueError):
    """The file is not a CDC ICD-10-CM tabular list; the message says why, in one line."""



class _Node:
    __slots__ = ("depth", "name", "description", "excludes1", "children", "parent", "seven",
                 "seven_for_children", "seven_from_ancestor")

    def __init__(self, depth: int, parent: _Node | None):
        self.depth = depth  # of its element: the root is 0, a chapter 1
        self.name = ""
        self.description = ""
        self.excludes1: list[str] = []
        self.children: list[str] = []
        self.parent = parent
        self.seven: dict[str, str] = {}
        # the nearest node with a sevenChrDef written before this node (the package's reading)
        self.seven_from_ancestor = parent.seven_for_children if parent else None
        self.seven_for_children = self.seven_from_ancestor

    def ancestors(self) -> tuple[str, ...]:
        names = []
        node = self.parent
        while node is not None:
            names.append(node.name)
            node = node.parent
        return tuple(names)


_READ_SIZE = 1 << 16


class _TabularReader:
    """expat callbacks that build the table while the file streams through."""

    def __init__(self, confirmed: set[str] | None):
        self.confirmed = confirmed
        self.table: Table = {}
        self.version: str | None = None
        self.path: list[str] = []  # the tags of the open elements
        self.nodes: list[_Node] = []  # the open chapters, sections and diags
        self.text: list[str] = []
        self.text_depth = -1  # the element whose own text is being read
        self.reading = False
        self.extension_char: str | None = None

    def refuse_declaration(self, *_args) -> None:
        raise TabularError("it declares a DOCTYPE or entities, which a CDC tabular file never "
                           "does (refused: entity expansion)")

    def start(self, tag: str, attributes: dict[str, str]) -> None:
        self.reading = False  # an element's text is what comes before its first child
        depth = len(self.path)
        self.path.append(tag)
        if depth == 0:
            if tag != "ICD10CM.tabular":
                raise TabularError(f"its root element is <{tag}>, not <ICD10CM.tabular>")
            return
        parent = self.nodes[-1] if self.nodes else None
        if (depth == 1 and tag == "chapter") or (
                parent is not None and depth == parent.depth + 1 and tag in ("section", "diag")):
            node = _Node(depth, parent)
            node.name = attributes.get("id", "")  # a section's name is its id
            self.nodes.append(node)
            return
        relative = tuple(self.path[parent.depth + 1:]) if parent else ()
        if (depth == 1 and tag == "version") or relative in _TEXTS or (
                len(relative) == 2 and relative[0] == "excludes1"):
            self.text.clear()
            self.text_depth, self.reading = depth, True
            if relative == ("sevenChrDef", "extension"):
                self.extension_char = attributes.get("char")

    def characters(self, data: str) -> None:
        if self.reading:
            self.text.append(data)

    def end(self, tag: str) -> None:
        depth = len(self.path) - 1
        value = None
        if depth == self.text_depth:
            value = "".join(self.text) or None
            self.text_depth, self.reading = -1, False
        node = self.nodes[-1] if self.nodes else None
        if node is not None and node.depth == depth:
            self.nodes.pop()
            self.finish(node)
        elif depth == 1 and tag == "version":
            self.version = value
        elif node is not None:
            self.keep(node, tuple(self.path[node.depth + 1:]), value)
        self.path.pop()

    def keep(self, node: _Node, relative: tuple[str, ...], value: str | None) -> None:
        if relative == ("name",):
            if value is None:
                where = node.parent.name if node.parent else "the root"
                raise TabularError(f"it has a <name> without text (below {where})")
            node.name = value
        elif relative == ("desc",):
            if value is not None:
                node.description = value
        elif len(relative) == 2 and relative[0] == "excludes1":
            if value is not None:
                node.excludes1.append(value)
        elif relative == ("sevenChrDef", "extension"):
            if self.extension_char is None:
                raise TabularError(f"it has an <extension> without a char in {node.name}")
            node.seven[self.extension_char] = value or ""
        elif relative == ("sevenChrDef", "note"):
            if node.seven and value is not None:
                last = next(reversed(node.seven))
                node.seven[last] = node.seven[last] + "/" + value
        elif relative == ("sevenChrDef",):
            node.seven_for_children = node

    def finish(self, node: _Node) -> None:
        ancestors = node.ancestors()
        extended = []
        definer = node if node.seven else node.seven_from_ancestor
        if not node.children and definer is not None:
            stem = node.name + "." if len(node.name) == 3 else node.name
            stem = stem.ljust(7, "X")
            for char, meaning in definer.seven.items():
                code = stem + char
                if self.confirmed is None or code.replace(".", "") in self.confirmed:
                    extended.append((code, f"{node.description}, {meaning}"))
        children = (*node.children, *(code for code, _ in extended))
        # the first of two items of one name wins (a section and a category "M99"), as in
        # the package, where the deeper one is made first
        self.table.setdefault(node.name, (ancestors, children, node.description,
                                          tuple(node.excludes1)))
        for code, description in extended:
            self.table.setdefault(code, ((node.name, *ancestors), (), description, ()))
        if node.parent is not None:
            node.parent.children.append(node.name)


_TEXTS = frozenset({("name",), ("desc",), ("sevenChrDef", "extension"), ("sevenChrDef", "note")})


def parse_tabular(source: IO[bytes], confirmed_codes: Iterable[str] | None = None
                  ) -> tuple[str, Table]:
    """(the ``<version>`` text, the table) of a CDC ICD-10-CM tabular XML stream.

    ``confirmed_codes``: the release's code list, which drops the few generated 7th-character
    codes the CDC does not list; None keeps every code ``sevenChrDef`` gives. Raises
    TabularError (with a one-line reason) for anything that is not a tabular list.
    """
    confirmed = None if confirmed_codes is None else {c.replace(".", "")
                                                      for c in confirmed_codes}
    reader = _TabularReader(confirmed)
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = reader.refuse_declaration
    parser.EntityDeclHandler = reader.refuse_declaration
    parser.ExternalEntityRefHandler = reader.refuse_declaration
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.characters
    parser.buffer_text = True
    try:
        while chunk := source.read(_READ_SIZE):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise TabularError(f"it is not well-formed XML ({expat.errors.messages[exc.code]}, "
                           f"line {exc.lineno})") from None
    if reader.version is None or not reader.version.strip():
        raise TabularError("it has no <version> in <ICD10CM.tabular>")
    if not reader.table:
        raise TabularError("it holds no chapters of codes")
    return reader.version.strip(), reader.table

"""Reader and writer for OpenWrt's UCI configuration syntax.

Lossless: every statement keeps the source text it came from, so a file that is
parsed and written back without edits is byte-identical, comments, blank lines
and quoting included. Edited or new statements are written in `uci export` style.

The OpenWrt `uci` binary is not used because torbox also runs on plain Linux
and in tests on the build host, where it does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

NAME_RE = re.compile(r"^[A-Za-z0-9_]+$")
TYPE_RE = re.compile(r"^[A-Za-z0-9_-]+$")


class UciSyntaxError(ValueError):
    """A parse error that knows where it happened."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message


@dataclass
class Trivia:
    """Blank lines and comments between statements."""

    raw: str


@dataclass
class Option:
    """One `option` or `list` statement; a UCI list is several of these."""

    kind: str  # "option" or "list"
    name: str
    value: str
    line: int = 0
    raw: str | None = None  # original text; None once edited

    def render(self) -> str:
        return f"\t{self.kind} {self.name} {quote(self.value)}\n"


@dataclass
class Section:
    type: str
    name: str | None  # None for an anonymous section
    line: int = 0
    raw: str | None = None
    options: list[Option] = field(default_factory=list)

    def render(self) -> str:
        if self.name is None:
            return f"config {self.type}\n"
        return f"config {self.type} {quote(self.name)}\n"

    # Reading -------------------------------------------------------------
    def get(self, name: str, default: str | None = None) -> str | None:
        for opt in self.options:
            if opt.name == name and opt.kind == "option":
                return opt.value
        return default

    def get_list(self, name: str) -> list[str]:
        """Values of a list (an `option` of the same name counts as one item, like uci)."""
        return [opt.value for opt in self.options if opt.name == name]

    def option_line(self, name: str) -> int:
        for opt in self.options:
            if opt.name == name:
                return opt.line
        return self.line

    def names(self) -> list[str]:
        seen: list[str] = []
        for opt in self.options:
            if opt.name not in seen:
                seen.append(opt.name)
        return seen


class UciFile:
    """A parsed UCI file: sections in order plus the trivia between them."""

    def __init__(self, path: str = "<memory>") -> None:
        self.path = path
        self.package: str | None = None
        # File order: Trivia, Section headers and Options (Options also live in their section).
        self.nodes: list[Trivia | Section | Option] = []

    @property
    def sections(self) -> list[Section]:
        return [n for n in self.nodes if isinstance(n, Section)]

    def section(self, name: str) -> Section | None:
        for sec in self.sections:
            if sec.name == name:
                return sec
        return None

    def sections_of(self, type_: str) -> list[Section]:
        return [s for s in self.sections if s.type == type_]

    # Editing --------------------------------------------------------------
    def add_section(self, type_: str, name: str | None = None) -> Section:
        if name is not None:
            _check_name(name, "section name")
            if self.section(name) is not None:
                raise ValueError(f"section {name!r} exists already")
        _check_type(type_)
        sec = Section(type=type_, name=name)
        if self.nodes and not (isinstance(self.nodes[-1], Trivia) and self.nodes[-1].raw == "\n"):
            self.nodes.append(Trivia("\n"))
        self.nodes.append(sec)
        return sec

    def delete_section(self, name: str) -> bool:
        sec = self.section(name)
        if sec is None:
            return False
        drop = {id(sec)} | {id(o) for o in sec.options}
        self.nodes = [n for n in self.nodes if id(n) not in drop]
        return True

    def set_option(self, sec: Section, name: str, value: str) -> None:
        """Set a single-valued option, replacing any option or list of that name."""
        _check_name(name, "option name")
        current = [o for o in sec.options if o.name == name]
        if len(current) == 1 and current[0].kind == "option":
            if current[0].value != value:
                current[0].value = value
                current[0].raw = None
            return
        self._replace(sec, name, [Option("option", name, value)])

    def set_list(self, sec: Section, name: str, values: list[str]) -> None:
        _check_name(name, "option name")
        current = [o for o in sec.options if o.name == name]
        if [o.kind for o in current] == ["list"] * len(values) and [
            o.value for o in current
        ] == list(values):
            return
        self._replace(sec, name, [Option("list", name, v) for v in values])

    def delete_option(self, sec: Section, name: str) -> None:
        self._replace(sec, name, [])

    def _replace(self, sec: Section, name: str, new: list[Option]) -> None:
        old_ids = {id(o) for o in sec.options if o.name == name}
        # New statements go where the first old one was, else after the section's last line.
        anchor = _last_node_of(self.nodes, sec)
        for i, node in enumerate(self.nodes):
            if id(node) in old_ids:
                anchor = i - 1
                break
        self.nodes = [n for n in self.nodes if id(n) not in old_ids]
        sec.options = [o for o in sec.options if id(o) not in old_ids]
        pos = anchor + 1
        self.nodes[pos:pos] = new
        # keep sec.options in file order
        order = {id(n): i for i, n in enumerate(self.nodes)}
        sec.options = sorted(sec.options + new, key=lambda o: order[id(o)])

    # Output ---------------------------------------------------------------
    def dump(self) -> str:
        out: list[str] = []
        for node in self.nodes:
            if isinstance(node, Trivia):
                out.append(node.raw)
            elif node.raw is not None:
                out.append(node.raw)
            else:
                out.append(node.render())
        return "".join(out)


def _last_node_of(nodes: list, sec: Section) -> int:
    last = nodes.index(sec)
    ids = {id(o) for o in sec.options}
    for i in range(last, len(nodes)):
        if id(nodes[i]) in ids:
            last = i
    return last


def _check_name(name: str, what: str) -> None:
    if not NAME_RE.match(name):
        raise ValueError(f"invalid {what} {name!r}: allowed are letters, digits and _")


def _check_type(type_: str) -> None:
    if not TYPE_RE.match(type_):
        raise ValueError(f"invalid section type {type_!r}: allowed are letters, digits, _ and -")


def quote(value: str) -> str:
    """Quote a value the way `uci export` does: single quotes, ' written as '\\''."""
    return "'" + value.replace("'", "'\\''") + "'"


# Parsing ------------------------------------------------------------------


class _Lexer:
    """Splits UCI text into statements: (first line, last line, tokens)."""

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.pos = 0
        self.line = 1

    def statements(self) -> Iterator[tuple[int, int, int, list[str]]]:
        """Yields (start offset, end offset, first line, tokens) per statement."""
        while self.pos < len(self.text):
            start, first = self.pos, self.line
            tokens = self._tokens()
            yield start, self.pos, first, tokens

    def _tokens(self) -> list[str]:
        text = self.text
        tokens: list[str] = []
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == "\n":
                self.pos += 1
                self.line += 1
                return tokens
            if ch in " \t\r":
                self.pos += 1
                continue
            if ch == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
                continue
            tokens.append(self._word())
        return tokens

    def _word(self) -> str:
        text = self.text
        buf: list[str] = []
        while self.pos < len(text):
            ch = text[self.pos]
            if ch in " \t\r\n":
                break
            if ch == "'":
                end = text.find("'", self.pos + 1)
                if end < 0:
                    raise UciSyntaxError(self.path, self.line, "unterminated single quote")
                chunk = text[self.pos + 1 : end]
                self.line += chunk.count("\n")
                buf.append(chunk)
                self.pos = end + 1
            elif ch == '"':
                self.pos += 1
                opened = self.line
                while True:
                    if self.pos >= len(text):
                        raise UciSyntaxError(self.path, opened, "unterminated double quote")
                    c = text[self.pos]
                    if c == '"':
                        self.pos += 1
                        break
                    if c == "\\" and self.pos + 1 < len(text):
                        nxt = text[self.pos + 1]
                        self.pos += 2
                        if nxt == "\n":
                            self.line += 1
                            continue
                        buf.append(nxt)
                        continue
                    if c == "\n":
                        self.line += 1
                    buf.append(c)
                    self.pos += 1
            elif ch == "\\":
                if self.pos + 1 >= len(text):
                    raise UciSyntaxError(self.path, self.line, "backslash at end of file")
                nxt = text[self.pos + 1]
                self.pos += 2
                if nxt == "\n":  # line continuation
                    self.line += 1
                    continue
                buf.append(nxt)
            else:
                buf.append(ch)
                self.pos += 1
        return "".join(buf)


def parse(text: str, path: str = "<memory>") -> UciFile:
    """Parse UCI text. Raises UciSyntaxError with file and line on any error."""
    uci = UciFile(path)
    current: Section | None = None
    lexer = _Lexer(text, path)
    for start, end, first, tokens in lexer.statements():
        raw = text[start:end]
        if not tokens:
            uci.nodes.append(Trivia(raw))
            continue
        keyword, args = tokens[0], tokens[1:]
        if keyword == "package":
            if len(args) != 1:
                raise UciSyntaxError(path, first, "'package' takes exactly one name")
            uci.package = args[0]
            uci.nodes.append(Trivia(raw))
        elif keyword == "config":
            if len(args) not in (1, 2):
                raise UciSyntaxError(
                    path, first, "'config' takes a type and an optional name: config TYPE ['NAME']"
                )
            if not TYPE_RE.match(args[0]):
                raise UciSyntaxError(
                    path, first,
                    f"invalid section type {args[0]!r}: allowed are letters, digits, _ and -",
                )
            name = args[1] if len(args) == 2 else None
            if name is not None and not NAME_RE.match(name):
                raise UciSyntaxError(
                    path, first, f"invalid section name {name!r}: allowed are letters, digits and _"
                )
            if name is not None and uci.section(name) is not None:
                # uci merges repeated named sections; torbox refuses them to stay unambiguous.
                raise UciSyntaxError(path, first, f"section {name!r} is defined twice")
            current = Section(type=args[0], name=name, line=first, raw=raw)
            uci.nodes.append(current)
        elif keyword in ("option", "list"):
            if current is None:
                raise UciSyntaxError(path, first, f"'{keyword}' before any 'config' line")
            if len(args) != 2:
                raise UciSyntaxError(
                    path, first, f"'{keyword}' takes a name and one value: {keyword} NAME 'VALUE'"
                )
            if not NAME_RE.match(args[0]):
                raise UciSyntaxError(
                    path, first, f"invalid option name {args[0]!r}: allowed are letters, digits and _"
                )
            opt = Option(keyword, args[0], args[1], line=first, raw=raw)
            if keyword == "option":
                # a later `option x` replaces earlier ones (lists too), as in uci; the text stays
                for old in [o for o in current.options if o.name == args[0]]:
                    current.options.remove(old)
                    uci.nodes[uci.nodes.index(old)] = Trivia(old.raw or "")
            current.options.append(opt)
            uci.nodes.append(opt)
        else:
            raise UciSyntaxError(
                path, first, f"unknown keyword {keyword!r}: allowed are config, option, list, package"
            )
    return uci


def load(path: str) -> UciFile:
    with open(path, encoding="utf-8") as fh:
        return parse(fh.read(), path)

"""Reader and writer for OpenWrt's UCI configuration syntax.

Reads a file exactly as libuci does when it loads /etc/config/NAME (uci's file.c and list.c
at the commit tests/openwrt/userland.lock pins; strict mode, as `uci` and ucode's cursor use):
same verdict, same sections, types, names, options and list values in the same order. The
parser is a port of libuci's line parser, quirks included (see "Rules" below), and
tests/openwrt/test_uci_libuci.py compares the two on generated files.

Lossless: every statement keeps the source text it came from, so a file that is parsed and
written back without edits is byte-identical, comments, blank lines and quoting included.
Edited or new statements are written in `uci export` style, and only in forms libuci reads
back as meant.

The OpenWrt `uci` binary is not used because torbox also runs on plain Linux and in tests on
the build host, where it does not exist.

Rules (libuci's, as read from its source):
- A line is split at spaces and tabs into a keyword: `config`, `option`, `list`, `package`,
  or their first letters `c`, `o`, `l`, `p`; a first word starting with `#` makes the line a
  comment. Anything else (also `config` directly followed by CR or LF) is an error.
- Arguments: runs of characters up to whitespace (space, tab, CR, LF, VT, FF), where 'single'
  quotes take everything literally (newlines too), "double" quotes and bare words take
  `\\c` as c and backslash-newline as a line continuation, and pieces concatenate (`a'b'"c"`).
  An unquoted `#` ends the line (also inside a word: `ab#c` is `ab`).
- `;` ends a statement, but only where libuci keeps it: at the start of an argument, or after
  an argument that had quotes or escapes. After a plain word (`config a b; option x y`) it ends
  the line and the rest is ignored. A `;` followed by a line end is an error ("invalid command").
- Names of sections and options: ASCII letters, digits, `_`. Types: any printable ASCII
  except space. Package names: letters, digits, `_`, `-`. `package` lines are checked and
  otherwise ignored. Too many arguments is an error; a missing type or option name too.
- `config TYPE` and `config TYPE ''` make an anonymous section, named `cfgNNHHHH` by libuci
  (NN: the section's number, HHHH: a hash of its type). A repeated `config TYPE NAME` adds to
  the earlier section (which keeps its place); with another type it is an error.
- `option NAME ''` and `option NAME` do nothing (they neither set nor clear). A later
  `option NAME V` replaces the earlier value or list in its place. `list NAME V` appends, turns
  an earlier option into a list's first item, and keeps empty values (`list NAME ''`).
- The file is read as lines of bytes; torbox reads it as UTF-8 text and refuses NUL bytes
  (libuci would silently join the rest of the line to the next line there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NAME_RE = re.compile(r"^[A-Za-z0-9_]+\Z")
TYPE_RE = re.compile(r"^[!-~]+\Z")  # libuci: printable ASCII, no space
PACKAGE_RE = re.compile(r"^[A-Za-z0-9_-]+\Z")
_PLAIN_RE = re.compile(r"^[A-Za-z0-9_.-]+\Z")  # written without quotes
_CFG_NAME_RE = re.compile(r"^cfg[0-9a-f]{6,}\Z")
_SPACE = " \t\n\v\f\r"  # C isspace() in the C locale
_KEYWORDS = {"c": "config", "o": "option", "l": "list", "p": "package"}


class UciSyntaxError(ValueError):
    """A parse error that knows where it happened."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message


class UciWriteError(ValueError):
    """An edit that libuci would not read back as torbox means it (never written)."""


@dataclass(eq=False)
class Trivia:
    """A line without statements: blank, a comment, or `package NAME`."""

    raw: str
    package: str | None = None
    open: bool = False  # the file's last line, unfinished: see UciFile.dump

    def render(self) -> str:
        return f"package {self.package}\n" if self.package else self.raw.rstrip("\n") + "\n"


@dataclass(eq=False)
class Option:
    """One `option` or `list` statement; a UCI list is several of these."""

    kind: str  # "option" or "list"
    name: str
    value: str
    line: int = 0
    raw: str | None = None  # original text; None once edited
    section: Section | None = field(default=None, repr=False)
    group: list | None = field(default=None, repr=False)  # statements sharing one line
    open: bool = field(default=False, repr=False)

    def render(self) -> str:
        return f"\t{self.kind} {self.name} {quote(self.value)}\n"


@dataclass(eq=False)
class Header:
    """A further `config TYPE NAME` line of a section defined more than once (libuci merges)."""

    section: Section
    name: str  # as written: an anonymous section is named by libuci's cfgNNHHHH name here
    line: int = 0
    raw: str | None = None
    group: list | None = field(default=None, repr=False)
    open: bool = field(default=False, repr=False)

    def render(self) -> str:
        return Section(self.section.type, self.name).render()


@dataclass(eq=False)
class Section:
    """A section as libuci sees it; in the file, also its first `config` line."""

    type: str
    name: str | None  # None for an anonymous section
    line: int = 0
    raw: str | None = None
    group: list | None = field(default=None, repr=False)
    open: bool = field(default=False, repr=False)
    # every option/list statement of the section, in file order (also those without effect)
    stmts: list[Option] = field(default_factory=list, repr=False)

    def render(self) -> str:
        type_ = self.type if _PLAIN_RE.match(self.type) else quote(self.type)
        if self.name is None:
            return f"config {type_}\n"
        return f"config {type_} {quote(self.name)}\n"

    # Reading -------------------------------------------------------------
    def _effective(self) -> dict[str, tuple[str, list[Option]]]:
        """libuci's reading of the statements: name -> (kind, statements giving the values)."""
        out: dict[str, tuple[str, list[Option]]] = {}
        for st in self.stmts:
            if st.kind == "option":
                if st.value != "":  # `option x ''` does nothing in libuci
                    out[st.name] = ("option", [st])  # replaces in place: the key keeps its spot
            elif st.name in out:
                out[st.name] = ("list", out[st.name][1] + [st])
            else:
                out[st.name] = ("list", [st])
        return out

    @property
    def options(self) -> list[Option]:
        """The values libuci reads, in its order (a list is one Option per item)."""
        return [
            Option(kind, name, st.value, line=st.line, section=self)
            for name, (kind, sts) in self._effective().items()
            for st in sts
        ]

    def get(self, name: str, default: str | None = None) -> str | None:
        eff = self._effective().get(name)
        if eff is None or eff[0] != "option":
            return default
        return eff[1][0].value

    def get_list(self, name: str) -> list[str]:
        """Values of a list (an `option` of the same name counts as one item, like uci)."""
        eff = self._effective().get(name)
        return [st.value for st in eff[1]] if eff else []

    def option_line(self, name: str) -> int:
        eff = self._effective().get(name)
        if eff:
            return eff[1][0].line
        for st in self.stmts:
            if st.name == name:
                return st.line
        return self.line

    def names(self) -> list[str]:
        return list(self._effective())


Node = Trivia | Section | Header | Option


def _djbhash(hash_: int, text: str) -> int:
    """libuci's hash for anonymous section names (list.c djbhash)."""
    if hash_ == 0xFFFFFFFF:
        hash_ = 5381
    for byte in text.encode("utf-8", "surrogateescape"):
        signed = byte - 256 if byte > 127 else byte
        hash_ = (hash_ * 33 + signed) & 0xFFFFFFFF
    return hash_ & 0x7FFFFFFF


def anonymous_name(number: int, type_: str) -> str:
    """The name libuci gives the `number`th section (from 1) when it is anonymous."""
    return f"cfg{number:02x}{_djbhash(0xFFFFFFFF, type_) % (1 << 16):04x}"


class UciFile:
    """A parsed UCI file: sections in order plus the trivia between them."""

    def __init__(self, path: str = "<memory>") -> None:
        self.path = path
        self.package: str | None = None
        # File order: Trivia, Section (its first config line), Header, Option.
        self.nodes: list[Node] = []

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

    def uci_names(self) -> list[str]:
        """Each section's name as libuci gives it (anonymous ones: cfgNNHHHH), in order."""
        return [s.name if s.name is not None else anonymous_name(i, s.type)
                for i, s in enumerate(self.sections, 1)]

    # Editing --------------------------------------------------------------
    def add_section(self, type_: str, name: str | None = None) -> Section:
        if name is not None:
            _check_name(name, "section name")
            if name in self.uci_names():
                raise ValueError(f"section {name!r} exists already")
            if _CFG_NAME_RE.match(name):
                # libuci would add to an anonymous section that happens to get this name
                raise ValueError(f"invalid section name {name!r}: cfgNNNNNN names are libuci's")
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
        for node in [n for n in self.nodes if n is sec or _owner(n) is sec]:
            self._remove(node)
        # Later anonymous sections are renumbered: a `config` line that names one (by libuci's
        # cfgNNHHHH name, to add to it) must follow.
        names = dict(zip(map(id, self.sections), self.uci_names(), strict=True))
        for node in self.nodes:
            if isinstance(node, Header) and node.section.name is None:
                if node.name != names[id(node.section)]:
                    node.name = names[id(node.section)]
                    self._edit(node)
        return True

    def set_option(self, sec: Section, name: str, value: str) -> None:
        """Set a single-valued option, replacing any option or list of that name.

        An empty value deletes the option: libuci ignores `option NAME ''`, so an empty
        option is never written (a missing option reads as empty everywhere in UCI).
        """
        _check_name(name, "option name")
        _check_value(value)
        if value == "":
            self.delete_option(sec, name)
            return
        current = [o for o in sec.stmts if o.name == name]
        if len(current) == 1 and current[0].kind == "option":
            if current[0].value != value:
                current[0].value = value
                self._edit(current[0])
            return
        self._replace(sec, name, [Option("option", name, value)])

    def set_list(self, sec: Section, name: str, values: list[str]) -> None:
        _check_name(name, "option name")
        for value in values:
            _check_value(value)
        current = [o for o in sec.stmts if o.name == name]
        if [o.kind for o in current] == ["list"] * len(values) and [
            o.value for o in current
        ] == list(values):
            return
        self._replace(sec, name, [Option("list", name, v) for v in values])

    def delete_option(self, sec: Section, name: str) -> None:
        self._replace(sec, name, [])

    def _replace(self, sec: Section, name: str, new: list[Option]) -> None:
        """Drop every statement of `name` (also those without effect); put `new` in their place."""
        old = [o for o in sec.stmts if o.name == name]
        if old:
            pos = self._index(old[0])
        else:
            pos = max(i for i, n in enumerate(self.nodes) if n is sec or _owner(n) is sec) + 1
        for node in old:
            self._remove(node)
        for node in new:
            node.section = sec
        self._insert(pos, new)
        sec.stmts = [n for n in self.nodes if isinstance(n, Option) and n.section is sec]

    def _index(self, node: Node) -> int:
        return next(i for i, n in enumerate(self.nodes) if n is node)

    def _edit(self, node: Node) -> None:
        """The node's text no longer stands: write it (and its line's other statements) anew."""
        if getattr(node, "group", None):
            _explode(node.group)  # type: ignore[union-attr]
        node.raw = None

    def _remove(self, node: Node) -> None:
        self._edit(node)
        del self.nodes[self._index(node)]
        if isinstance(node, Option) and node.section is not None:
            node.section.stmts = [o for o in node.section.stmts if o is not node]

    def _insert(self, pos: int, new: list) -> None:
        if 0 < pos < len(self.nodes):
            before, after = self.nodes[pos - 1], self.nodes[pos]
            group = getattr(before, "group", None)
            if group is not None and group is getattr(after, "group", None):
                _explode(group)  # never write between two statements of one line
        self.nodes[pos:pos] = new

    # Output ---------------------------------------------------------------
    def dump(self) -> str:
        chunks = [n.raw if n.raw is not None else n.render() for n in self.nodes]
        # The file's last line may be unfinished: no newline, or a `\` continuing it into the
        # end of the file. Once something follows it, it is written anew (after `\` or `;`, a
        # newline and more text would change what libuci reads).
        for i, node in enumerate(self.nodes):
            if node.open and node.raw is not None and any(chunks[i + 1:]):
                members = getattr(node, "group", None) or [node]
                chunks[i] = "".join(m.render() for m in members)
        text = "".join(chunks)
        # What is written must read back, by libuci's rules, as this model: checked, not hoped.
        try:
            again = _Parser(text, self.path).parse()
        except UciSyntaxError as exc:
            raise UciWriteError(f"{self.path}: the edited file would not parse: {exc}") from None
        if again.model() != self.model():
            raise UciWriteError(f"{self.path}: the edited file would read back differently "
                                "from what torbox means; nothing written")
        return text

    def model(self) -> list[tuple]:
        """What libuci reads: (name, type, anonymous, [(option, kind, values)]) per section."""
        return [(name, sec.type, sec.name is None,
                 [(opt, kind, [st.value for st in sts])
                  for opt, (kind, sts) in sec._effective().items()])
                for sec, name in zip(self.sections, self.uci_names(), strict=True)]


def _owner(node: Node) -> Section | None:
    if isinstance(node, (Option, Header)):
        return node.section
    return None


def _explode(group: list) -> None:
    for member in group:
        member.raw = None
        member.group = None


def _check_name(name: str, what: str) -> None:
    if not NAME_RE.match(name):
        raise ValueError(f"invalid {what} {name!r}: allowed are letters, digits and _")


def _check_type(type_: str) -> None:
    if not TYPE_RE.match(type_):
        raise ValueError(f"invalid section type {type_!r}: allowed are printable ASCII "
                         "characters other than space")


def _check_value(value: str) -> None:
    if "\0" in value:
        raise ValueError(f"invalid value {value!r}: a UCI value cannot hold a NUL character")


def quote(value: str) -> str:
    """Quote a value the way `uci export` does: single quotes, ' written as '\\''."""
    return "'" + value.replace("'", "'\\''") + "'"


# Parsing ------------------------------------------------------------------
#
# A port of libuci's file.c parser. It works, like libuci, on a buffer holding one line (more
# when a quote or a backslash continues it), rewriting arguments in place and marking string
# ends with NUL ("\0"); where libuci's behaviour depends on that in-place rewriting (`;`), so
# does this. Function names follow file.c.

_EOS = "\0"


class _Parser:
    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.doc = UciFile(path)
        self.tpos = 0  # next unread character of text
        self.lineno = 0  # physical lines read
        self.buf: list[str] = []
        self.pos = 0
        self.filled = 0  # libuci's buf_filled
        self.starts: list[tuple[int, int]] = []  # (buffer offset, line number) per line read
        self.current: Section | None = None
        self.by_name: dict[str, Section] = {}
        self.stmts: list = []  # statements of the line being parsed
        self.packages: list[str] = []
        self.at_eof = False  # a continuation or quote ran into the end of the file
        self.stmt_line = 1
        self.long_quote: tuple[str, int] | None = None  # first quote of the line over 2+ lines

    # libuci's buffer ------------------------------------------------------
    def ch(self, i: int | None = None) -> str:
        i = self.pos if i is None else i
        return self.buf[i] if i < len(self.buf) else _EOS

    def put(self, i: int, c: str) -> None:
        if i >= len(self.buf):
            self.buf.extend(_EOS * (i + 1 - len(self.buf)))
        self.buf[i] = c

    def cstr(self, i: int) -> str:
        """The NUL-terminated string at buffer offset i."""
        out = []
        while i < len(self.buf) and self.buf[i] != _EOS:
            out.append(self.buf[i])
            i += 1
        return "".join(out)

    def getln(self, offset: int) -> None:
        """uci_getln: read the next line into the buffer at `offset`."""
        del self.buf[offset:]
        if self.tpos >= len(self.text):
            self.at_eof = True
            return
        end = self.text.find("\n", self.tpos)
        end = len(self.text) if end < 0 else end + 1
        self.lineno += 1
        self.starts.append((offset, self.lineno))
        self.buf.extend(self.text[self.tpos:end])
        self.tpos = end
        self.filled = len(self.buf)

    def line_at(self, pos: int) -> int:
        line = self.starts[0][1] if self.starts else 1
        for offset, number in self.starts:
            if offset <= pos:
                line = number
        return line

    def fail(self, message: str, line: int | None = None) -> UciSyntaxError:
        """An error, reported at the line its statement starts on (a quote: where it opened)."""
        if self.long_quote and line is None:
            kind, opened = self.long_quote
            message += (f" (the {kind} quote opened on line {opened} goes on to line "
                        f"{self.line_at(self.pos)}: an unterminated {kind} quote?)")
        return UciSyntaxError(self.path, line or self.stmt_line, message)

    # file.c ---------------------------------------------------------------
    def parse_backslash(self) -> bool:
        self.pos += 1
        c = self.ch()
        if c == _EOS or c == "\n" or (
            c == "\r" and self.ch(self.pos + 1) == "\n" and self.ch(self.pos + 2) == _EOS
        ):
            self.getln(self.pos)
            return False
        return True

    def skip_whitespace(self) -> None:
        while self.ch() != _EOS and self.ch() in _SPACE:
            self.pos += 1

    def addc(self, target: int) -> int:
        self.put(target, self.ch())
        self.pos += 1
        return target + 1

    def parse_double_quote(self, target: int) -> int:
        opened = self.line_at(self.pos)
        self.pos += 1
        while True:
            c = self.ch()
            if c == '"':
                self.pos += 1
                return target
            if c == _EOS:
                self.getln(self.pos)
                if self.ch() == _EOS:
                    raise self.fail("unterminated double quote", opened)
                self.long_quote = self.long_quote or ("double", opened)
                continue
            if c == "\\" and not self.parse_backslash():
                continue
            target = self.addc(target)

    def parse_single_quote(self, target: int) -> int:
        opened = self.line_at(self.pos)
        self.pos += 1
        while True:
            c = self.ch()
            if c == "'":
                self.pos += 1
                return target
            if c == _EOS:
                self.getln(self.pos)
                if self.ch() == _EOS:
                    raise self.fail("unterminated single quote", opened)
                self.long_quote = self.long_quote or ("single", opened)
                continue
            target = self.addc(target)

    def parse_str(self, target: int) -> None:
        go_on = True
        while True:
            c = self.ch()
            if c == "'":
                target = self.parse_single_quote(target)
            elif c == '"':
                target = self.parse_double_quote(target)
            elif c == "#":
                self.put(self.pos, _EOS)
                break
            elif c == _EOS:
                break
            elif c == ";":
                go_on = False
                break
            elif c == "\\" and not self.parse_backslash():
                pass  # a continuation: the loop's condition decides
            else:
                target = self.addc(target)
            if self.ch() == _EOS or self.ch() in _SPACE:
                break
        if self.ch() != _EOS and go_on:
            self.pos += 1
        self.put(target, _EOS)

    def next_arg(self, required: str | None) -> str:
        """Returns the argument; `required` is the error message when it is missing."""
        self.skip_whitespace()
        val = self.pos
        if self.ch() == ";":
            self.put(self.pos, _EOS)
            self.pos += 1
        else:
            self.parse_str(val)
        arg = self.cstr(val)
        if not arg and required:
            raise self.fail(required)
        return arg

    def assert_eol(self, usage: str) -> None:
        self.skip_whitespace()
        if self.next_arg(None):
            raise self.fail(f"{usage}: too many arguments")

    def strtok(self) -> str | None:
        """C strtok(cur_str, " \\t"): the next word, NUL-terminated in place."""
        i = self.pos
        while self.ch(i) in " \t" and self.ch(i) != _EOS:
            i += 1
        if self.ch(i) == _EOS:
            return None
        start = i
        while self.ch(i) not in (" ", "\t", _EOS):
            i += 1
        if self.ch(i) != _EOS:
            self.put(i, _EOS)
        return "".join(self.buf[start:i])

    def skip_keyword(self, usage: str) -> None:
        """uci_increase_pos past the keyword that strtok cut out."""
        add = len(self.cstr(self.pos)) + 1
        if self.pos + add > self.filled:
            raise self.fail(usage)
        self.pos += add

    def parse_line(self) -> None:
        self.skip_whitespace()
        while True:
            self.stmt_line = self.line_at(self.pos)
            word = self.strtok()
            if word is None or word.startswith("#"):
                return
            keyword = word if word in _KEYWORDS.values() else _KEYWORDS.get(word)
            if keyword == "config":
                self.parse_config()
            elif keyword in ("option", "list"):
                self.parse_option(keyword)
            elif keyword == "package":
                self.parse_package()
            else:
                raise self.fail(_invalid_command(word))

    def parse_package(self) -> None:
        usage = "'package' takes exactly one name"
        self.skip_keyword(usage)
        name = self.next_arg(usage)
        if not PACKAGE_RE.match(name):
            raise self.fail(f"invalid package name {name!r}: allowed are letters, digits, _ and -")
        self.assert_eol(usage)
        self.packages.append(name)
        self.doc.package = name

    def parse_config(self) -> None:
        usage = "'config' takes a type and an optional name: config TYPE ['NAME']"
        line = self.stmt_line
        self.skip_keyword(usage)
        type_ = self.next_arg(usage)
        if not TYPE_RE.match(type_):
            raise self.fail(f"invalid section type {type_!r}: allowed are printable ASCII "
                            "characters other than space")
        name = self.next_arg(None)
        if name and not NAME_RE.match(name):
            raise self.fail(f"invalid section name {name!r}: allowed are letters, digits and _")
        self.assert_eol(usage)
        number = len(self.doc.sections) + len([s for s in self.stmts if isinstance(s, Section)])
        if not name:
            sec = Section(type=type_, name=None, line=line)
            self.by_name.setdefault(anonymous_name(number + 1, type_), sec)
            self.stmts.append(sec)
            self.current = sec
            return
        earlier = self.by_name.get(name)
        if earlier is None:
            sec = Section(type=type_, name=name, line=line)
            self.by_name[name] = sec
            self.stmts.append(sec)
            self.current = sec
            return
        if earlier.type != type_:
            raise self.fail(f"section {name!r} is given again with type {type_!r}, but it has "
                            f"type {earlier.type!r} (line {earlier.line}); libuci adds a repeated "
                            "section to the earlier one only if the type is the same")
        self.stmts.append(Header(section=earlier, name=name, line=line))
        self.current = earlier

    def parse_option(self, keyword: str) -> None:
        usage = f"'{keyword}' takes a name and one value: {keyword} NAME 'VALUE'"
        if self.current is None:
            raise self.fail(f"'{keyword}' before any 'config' line")
        line = self.stmt_line
        self.skip_keyword(usage)
        name = self.next_arg(usage)
        if not NAME_RE.match(name):
            raise self.fail(f"invalid option name {name!r}: allowed are letters, digits and _")
        value = self.next_arg(None)
        self.assert_eol(usage)
        opt = Option(keyword, name, value, line=line, section=self.current)
        self.current.stmts.append(opt)
        self.stmts.append(opt)

    def parse(self) -> UciFile:
        if _EOS in self.text:
            line = self.text.count("\n", 0, self.text.index(_EOS)) + 1
            raise UciSyntaxError(self.path, line, "NUL byte: a UCI file is text")
        while self.tpos < len(self.text):
            start = self.tpos
            self.pos = 0
            self.starts = []
            self.stmts = []
            self.packages = []
            self.at_eof = False
            self.long_quote = None
            self.getln(0)
            if self.buf:
                self.parse_line()
            raw = self.text[start:self.tpos]
            unfinished = self.at_eof or not raw.endswith("\n")
            if not self.stmts:
                self.doc.nodes.append(
                    Trivia(raw, self.packages[-1] if self.packages else None, unfinished))
                continue
            self.stmts[0].raw = raw
            self.stmts[0].open = unfinished
            for st in self.stmts[1:]:
                st.raw = ""
            if len(self.stmts) > 1:
                for st in self.stmts:
                    st.group = self.stmts
            self.doc.nodes.extend(self.stmts)
        return self.doc


def _invalid_command(word: str) -> str:
    bare = word.rstrip(_SPACE)
    if bare == "":
        return "';' at the end of a line: libuci reads the line end after it as a command"
    keyword = bare if bare in _KEYWORDS.values() else _KEYWORDS.get(bare)
    if keyword == "config":
        return "'config' takes a type and an optional name: config TYPE ['NAME']"
    if keyword in ("option", "list"):
        return f"'{keyword}' takes a name and one value: {keyword} NAME 'VALUE'"
    if keyword == "package":
        return "'package' takes exactly one name"
    return (f"unknown keyword {word!r}: allowed are config, option, list, package "
            "(or c, o, l, p)")


def parse(text: str, path: str = "<memory>") -> UciFile:
    """Parse UCI text as libuci does. Raises UciSyntaxError with file and line on any error."""
    return _Parser(text, path).parse()


def load(path: str) -> UciFile:
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UciSyntaxError(path, line, "not UTF-8 text") from None
    return parse(text, path)

"""Declaring an option once: its value type, default and help text in one dataclass field.

A section of /etc/config/torbox is a dataclass whose fields are declared with `option(...)`.
Reading a section, the README's configuration tables and the tests all come from these
declarations, so adding an option is one field plus the renderer that uses it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import uci
from .kinds import CONTROL_RE, Kind


@dataclass(frozen=True)
class Derived:
    """A default computed from the section's name and (optionally) an option read before it."""

    make: Callable[[str, Any], str | None]  # (section name, source value) -> UCI text
    doc: str  # the README's "default" column
    source: str | None = None  # the option it is computed from: a refusal points at its line


@dataclass(frozen=True)
class Option:
    kind: Kind
    default: str | Derived | None  # UCI text as in the file; None: a list, empty by default
    help: str  # the README's "what it does" column
    is_list: bool = False
    type_doc: str = ""  # README "type" column when it is not the kind's
    default_doc: str = ""  # README "default" column when it is not the literal default

    @property
    def readme_type(self) -> str:
        return self.type_doc or self.kind.doc

    @property
    def readme_default(self) -> str:
        if self.default_doc:
            return self.default_doc
        if isinstance(self.default, Derived):
            return self.default.doc
        if self.default is None:
            return "—"
        return f"`{self.default}`" if self.default else "empty"


def option(kind: Kind, default: str | Derived | None, help: str, **more: Any) -> Any:
    """A dataclass field that is an option of the file."""
    return dataclasses.field(metadata={"option": Option(kind, default, help, **more)})


class Section:
    """Base of the section dataclasses; their `option(...)` fields are the section's options."""

    @classmethod
    def options(cls) -> dict[str, Option]:
        return {f.name: f.metadata["option"] for f in dataclasses.fields(cls)  # type: ignore[arg-type]
                if "option" in f.metadata}


_REFUSED = object()


def _parse(kind: Kind, text: str, at: str, problems: list[str]) -> Any:
    """The typed value, or _REFUSED after adding `at + what is wrong; allowed: …`."""
    bad = CONTROL_RE.search(text)
    if bad:
        problems.append(f"{at}{text!r} contains a control character (U+{ord(bad.group()):04X}); "
                        f"allowed: {kind.allowed}")
        return _REFUSED
    try:
        text.encode("utf-8")
        return kind.parse(text)
    except UnicodeEncodeError:
        problems.append(f"{at}{text!r} is not Unicode text; allowed: {kind.allowed}")
    except ValueError as exc:
        # (what is wrong[, what is allowed]): never guessed from the text, which may quote the
        # value itself
        what, allowed = (exc.args + (kind.allowed,))[:2]
        problems.append(f"{at}{what}; allowed: {allowed}")
    return _REFUSED


def _default(opt: Option, name: str, section: str, values: dict[str, Any], at: str,
             problems: list[str]) -> Any:
    if not isinstance(opt.default, Derived):
        value = _parse(opt.kind, opt.default or "", at, problems)
        assert value is not _REFUSED, f"default of {name} does not parse"
        return value
    source = values.get(opt.default.source) if opt.default.source else None
    if opt.default.source and source is None:
        return None  # the option it comes from was refused; that is the problem to fix
    text = opt.default.make(section, source)
    if text is None:
        return None
    own: list[str] = []
    value = _parse(opt.kind, text, at, own)
    # say that the refused value is the default, not something written in the file
    problems += [p.replace(f"{at}{text!r}", f"{at}{text!r} (the default, {opt.default.doc})", 1)
                 for p in own]
    return None if value is _REFUSED else value


def read_section(cls: type[Section], sec: uci.Section | None, label: str, path: str,
                 problems: list[str]) -> dict[str, Any]:
    """Every declared option of `cls` from `sec` (or its default); refused values are None."""
    declared = cls.options()
    problems += [f"{path}:{sec.option_line(name)}: {label}: unknown option {name!r}; allowed: "
                 f"{', '.join(sorted(declared))}"
                 for name in (sec.names() if sec is not None else []) if name not in declared]
    values: dict[str, Any] = {}
    for name, opt in declared.items():
        given = sec.get_list(name) if sec is not None else []
        blamed = opt.default.source if isinstance(opt.default, Derived) and not given else None
        line = sec.option_line(blamed or name) if sec is not None else 0
        at = f"{path}:{line}: {label}.{name}: "
        if opt.is_list:
            parsed = [_parse(opt.kind, item, at, problems) for item in given]
            values[name] = [v for v in parsed if v is not _REFUSED]
        elif not given:
            values[name] = _default(opt, name, label, values, at, problems)
        else:
            if len(given) > 1:
                problems.append(f"{at}given as a list; allowed: one value")
            text = sec.get(name) if sec.get(name) is not None else given[0]
            value = _parse(opt.kind, text, at, problems)
            values[name] = None if value is _REFUSED else value
    return values


def defaults_of(cls: type[Section], section: str) -> dict[str, str | None]:
    """Each option's default as UCI text for a section of that name (derived ones computed)."""
    problems: list[str] = []
    values = read_section(cls, None, section, "<defaults>", problems)
    assert not problems, problems
    texts: dict[str, str | None] = {}
    for name, opt in cls.options().items():
        if isinstance(opt.default, Derived):
            source = values.get(opt.default.source) if opt.default.source else None
            texts[name] = opt.default.make(section, source)
        else:
            texts[name] = opt.default
    return texts


def reference_table(cls: type[Section]) -> str:
    """The README's table for one section."""
    rows = ["| option | type | default | what it does |", "|---|---|---|---|"]
    rows += [f"| `{name}` | {opt.readme_type} | {opt.readme_default} | {opt.help} |"
             for name, opt in cls.options().items()]
    return "\n".join(rows)


class Where:
    """`path:line: label.option: ` for the option a cross-field problem is about."""

    def __init__(self, path: str, sections: dict[str, uci.Section]) -> None:
        self.path = path
        self.sections = sections

    def line(self, label: str, option: str) -> int:
        sec = self.sections.get(label)
        return sec.option_line(option) if sec is not None else 0

    def __call__(self, label: str, option: str, *, name_option: bool = True) -> str:
        where = f"{label}.{option}" if name_option else label
        return f"{self.path}:{self.line(label, option)}: {where}: "

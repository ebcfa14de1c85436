"""torbox's UCI parser reads every file the way libuci reads it (issue 9, fault 6).

torbox merges its sections into /etc/config files that LuCI, uci-defaults and people wrote,
so it must accept exactly the files libuci accepts and see the same sections, types, names,
options and list values in the same order. libuci is the real one, from the OpenWrt userland
that `make openwrt-userland` builds, read through ucode's uci module (a cursor on a temporary
config directory: strict mode, as `uci` and every OpenWrt service use it).

- generated files, valid and not (quotes, escapes, comments, `;`, continuations, repeated
  sections, empty values, odd whitespace, CR LF): same verdict and same sections;
- the same files after random edits through torbox's writer: libuci reads what torbox means;
- every file torbox writes (`render --target openwrt` fragments, the files `apply` merges into
  OpenWrt's defaults, `genkeys` output) and the files it reads: accepted, same content, and
  each torbox section as torbox's changes say.

Runs without root; a missing userland build is a failure, never a skip.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torbox import config, render_openwrt, uci

# Needs the OpenWrt userland, not root: runs in `make test` (and .ci/run), not `make test-core`.
pytestmark = pytest.mark.openwrt

REPO = Path(__file__).resolve().parents[2]
TORBOX = REPO / "files" / "usr" / "sbin" / "torbox"
CONFIGS = sorted((REPO / "tests" / "configs").glob("*.uci")) + [
    REPO / "files" / "etc" / "config" / "torbox"]
STOCK = REPO / "tests" / "data" / "openwrt"
UCI_FILES = render_openwrt.FILES

# Reads each named config of a directory; one JSON line per config: its sections or the error.
READER = r"""
let dir = ARGV[0];
for (let name in slice(ARGV, 1)) {
    let c = uci.cursor(dir, dir + "/.delta");
    let secs = [];
    let ok = c.get_all(name) != null;  // loads it (foreach is false also for no sections)
    c.foreach(name, null, function(s) {
        let opts = [];
        for (let k in keys(s))
            if (substr(k, 0, 1) != ".")
                push(opts, [k, s[k]]);
        push(secs, [s[".name"], s[".type"], s[".anonymous"], s[".index"], opts]);
    });
    printf("%J\n", ok ? { name, sections: secs } : { name, error: c.error() });
}
"""


@functools.cache
def _userland() -> tuple[Path, dict[str, str]]:
    res = subprocess.run([sys.executable, str(REPO / "tests/openwrt/userland.py"), "path"],
                         capture_output=True, text=True)
    if res.returncode != 0 or not res.stdout.strip():
        raise RuntimeError(
            "OpenWrt userland not built: run make openwrt-userland "
            f"({(res.stdout + res.stderr).strip()})")
    root = Path(res.stdout.strip().splitlines()[-1])
    env = dict(os.environ, LD_LIBRARY_PATH=f"{root}/lib:{root}/usr/lib")
    return root, env


def userland() -> tuple[Path, dict[str, str]]:
    try:
        return _userland()
    except RuntimeError as exc:
        missing = str(exc)
    pytest.fail(missing, pytrace=False)


def libuci_read(files: dict[str, str]) -> dict[str, list | None]:
    """libuci's reading of each text (None: refused), through ucode's uci module."""
    root, env = userland()
    ucode = next((p for p in (root / "usr/bin/ucode", root / "bin/ucode") if p.exists()), None)
    modules = root / "usr/lib/ucode"
    assert ucode and (modules / "uci.so").exists(), f"no ucode with a uci module in {root}"
    with tempfile.TemporaryDirectory(prefix="tbx-libuci-") as tmp:
        names = []
        for i, text in enumerate(files.values()):
            name = f"f{i}"
            Path(tmp, name).write_bytes(text.encode("utf-8"))
            names.append(name)
        res = subprocess.run([str(ucode), "-L", str(modules), "-l", "uci", "-e", READER,
                              tmp, *names], capture_output=True, env=env, timeout=60)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    rows = [json.loads(line) for line in res.stdout.decode().splitlines()]
    assert [r["name"] for r in rows] == names, res.stdout
    return {key: (None if "error" in row else [_section(*s) for s in row["sections"]])
            for key, row in zip(files, rows, strict=True)}


def uci_export(text: str) -> str:
    """`uci -c DIR export NAME` of the text: must succeed."""
    root, env = userland()
    cli = next(p for p in (root / "sbin/uci", root / "usr/sbin/uci", root / "usr/bin/uci")
               if p.exists())
    with tempfile.TemporaryDirectory(prefix="tbx-uci-") as tmp:
        Path(tmp, "f").write_text(text)
        res = subprocess.run([str(cli), "-c", tmp, "-t", f"{tmp}/.delta", "export", "f"],
                             capture_output=True, text=True, env=env, timeout=30)
    assert res.returncode == 0, f"uci export: {res.stderr}\n{text!r}"
    return res.stdout


def _section(name, type_, anonymous, index, opts) -> tuple:
    return (index, name, type_, anonymous, [(k, v) for k, v in opts])


def torbox_model(doc: uci.UciFile) -> list[tuple]:
    """torbox's reading, in the shape of libuci's (anonymous sections by libuci's cfg name)."""
    out = []
    for i, (sec, name) in enumerate(zip(doc.sections, doc.uci_names(), strict=True)):
        opts = []
        for opt in sec.names():
            value = sec.get(opt)
            opts.append((opt, value if value is not None else sec.get_list(opt)))
        out.append((i, name, sec.type, sec.name is None, opts))
    return out


def torbox_read(text: str) -> list[tuple] | None:
    try:
        return torbox_model(uci.parse(text, "gen"))
    except uci.UciSyntaxError:
        return None


def assert_same(texts: dict[str, str]) -> dict[str, list | None]:
    theirs = libuci_read(texts)
    for key, text in texts.items():
        ours = torbox_read(text)
        verdict = {True: "accepts", False: "refuses"}
        assert (ours is None) == (theirs[key] is None), (
            f"{key}: libuci {verdict[theirs[key] is not None]}, torbox "
            f"{verdict[ours is not None]}:\n{text!r}")
        assert ours == theirs[key], f"{key}: sections differ:\n{text!r}"
    return theirs


# Generated files --------------------------------------------------------------------------

SEC_NAMES = ["lan", "wan", "a", "b_2", "x-y", "a.b", "cfg02b608", "cfg0151a0"]
TYPES = ["interface", "zone", "c", "x-y", "a.b", "t'q", "é"]
OPT_NAMES = ["x", "y", "dns", "key", "ip-addr", "ssid"]


def _quoted(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word, f"'{word}'", f'"{word}"', f"{word}''", f"'{word[:1]}'{word[1:]}",
                            "''", f"{word}\\\n"])


bare = st.text(alphabet="ab1_-.#;\\é", min_size=1, max_size=4)
single = st.text(alphabet="ab \t#;\"\\\n\r", max_size=5).map(lambda s: f"'{s}'")
double = st.lists(st.sampled_from(
    ["a", " ", "#", ";", "'", "\\\\", "\\\"", "\\n", "\\\n", "\n", "\r", "\\\r\n"]),
    max_size=4).map(lambda parts: '"' + "".join(parts) + '"')
value_word = st.lists(st.one_of(bare, single, double), min_size=1, max_size=3).map("".join)
sep = st.sampled_from([" ", " ", "\t", "  ", " \t", "\v", "\f", ";", " ; "])
indent = st.sampled_from(["", "\t", "  ", "\t ", "\r"])
trailer = st.sampled_from(["", "", "", " ", "\t", " # note", "#x", ";", " ;", " ; option y 1",
                           "; list y z", " 'extra'", " \\", "\r", " \\\n"])
eol = st.sampled_from(["\n", "\n", "\n", "\r\n"])


@st.composite
def statement(draw, wild: bool) -> str:
    """A statement; `wild` ones stray further from what libuci accepts."""
    if wild:
        kinds = ["config", "option", "list", "package", "c", "o", "l", "p", "conf", "Config"]
    else:
        kinds = ["config", "option", "option", "list", "list", "list"]
    kind = draw(st.sampled_from(kinds))
    types, names, opt_names = TYPES, SEC_NAMES, OPT_NAMES
    if not wild:
        types, names, opt_names = TYPES[:4], SEC_NAMES[:5], OPT_NAMES[:4] + OPT_NAMES[5:]
    quoted = _quoted if wild else (lambda w: st.sampled_from([w, f"'{w}'", f'"{w}"']))
    if kind in ("config", "c", "conf", "Config"):
        args = [draw(st.sampled_from(types).flatmap(quoted))]
        if draw(st.booleans()):
            args.append(draw(st.sampled_from(names + [""]).flatmap(quoted)))
    elif kind in ("package", "p"):
        args = [draw(st.sampled_from(["network", "a-b", "a.b", ""]).flatmap(quoted))]
    else:
        args = [draw(st.sampled_from(opt_names).flatmap(quoted))]
        if draw(st.integers(0, 5)):
            args.append(draw(st.one_of(value_word, st.sampled_from(["''", '""', "1", "'a b'"]))))
    if wild and not draw(st.integers(0, 4)):
        args = args[: draw(st.integers(0, len(args)))]
    text = draw(indent if wild else st.sampled_from(["", "\t", "  "])) + kind
    for arg in args:
        text += draw(sep if wild else st.sampled_from([" ", "\t"])) + arg
    return text + draw(trailer if wild else st.sampled_from(["", "", "", " # c", "\r"]))


line = st.integers(0, 19).flatmap(lambda n: (
    statement(wild=False) if n < 14 else
    statement(wild=True) if n < 17 else
    st.sampled_from(["", "# comment", "  # indented 'comment", "\t", "#", "\\", " \\ "])
    if n < 19 else st.text(alphabet="co l'\"#;\\\t x\n", max_size=8)))


@st.composite
def uci_text(draw) -> str:
    lines = draw(st.lists(line, max_size=10))
    if draw(st.integers(0, 9)) != 5:
        lines.insert(0, draw(st.sampled_from(["config a", "config interface 'lan'", "c zone"])))
    text = "".join(ln + draw(eol) for ln in lines)
    if text and draw(st.integers(0, 3)) == 0:
        text = text.rstrip("\n")  # no newline at the end of the file
    return text


# and character soup, for what the grammar above does not think of
soup = st.tuples(st.booleans(), st.text(alphabet="configptnls a'\"\\#;\t\n\r\v-_.xy", max_size=40)
                 ).map(lambda t: ("config a 'b'\n" if t[0] else "") + t[1])


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(uci_text(), uci_text(), uci_text(), soup), min_size=1, max_size=12))
def _generated_files_read_the_same(texts):
    assert_same({f"t{i}": t for i, t in enumerate(texts)})


def test_generated_files_read_the_same():
    userland()  # a plain failure when it is missing, before any example
    _generated_files_read_the_same()


# Edits: what torbox writes is what libuci reads --------------------------------------------

edit = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(OPT_NAMES[:4]),
              st.sampled_from(["1", "", "it's", "a b", "#;\\", "two\nlines", "\r"])),
    st.tuples(st.just("list"), st.sampled_from(OPT_NAMES[:4]),
              st.lists(st.sampled_from(["1", "", "x y", "'"]), max_size=3)),
    st.tuples(st.just("delete"), st.sampled_from(OPT_NAMES[:4]), st.none()),
    st.tuples(st.just("add"), st.sampled_from(["zone", "x-y"]),
              st.sampled_from([None, "new", "lan"])),
    st.tuples(st.just("drop"), st.sampled_from(SEC_NAMES[:4]), st.none()),
)


def _apply_edits(doc: uci.UciFile, edits: list, pick: list[int]) -> None:
    for (op, name, value), n in zip(edits, pick, strict=False):
        secs = doc.sections
        if op == "add":
            try:
                doc.add_section(name, value)
            except ValueError:
                pass
        elif op == "drop":
            doc.delete_section(name)
        elif secs:
            sec = secs[n % len(secs)]
            if op == "set":
                doc.set_option(sec, name, value)
            elif op == "list":
                doc.set_list(sec, name, value)
            else:
                doc.delete_option(sec, name)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(uci_text(), st.lists(edit, min_size=1, max_size=5),
                          st.lists(st.integers(0, 7), min_size=5, max_size=5)),
                min_size=1, max_size=12))
def _edited_files_read_as_torbox_means(cases):
    written, meant = {}, {}
    for i, (text, edits, pick) in enumerate(cases):
        try:
            doc = uci.parse(text, "gen")
        except uci.UciSyntaxError:
            continue
        _apply_edits(doc, edits, pick)
        try:
            written[f"e{i}"] = doc.dump()
        except uci.UciWriteError:
            # torbox refuses to write what libuci would misread: only for files that name a
            # section like libuci names anonymous ones, and then renumber them
            assert re.search(r"cfg[0-9a-f]{6}", text), text
            continue
        meant[f"e{i}"] = torbox_model(doc)
    theirs = assert_same(written) if written else {}
    for key, model in meant.items():
        assert theirs[key] == model, f"{key}: libuci reads other than torbox meant:\n" \
                                     f"{written[key]!r}"


def test_edited_files_read_as_torbox_means():
    userland()
    _edited_files_read_as_torbox_means()


# Known differences, pinned (each was a difference before torbox's parser followed libuci) --

@pytest.mark.parametrize("text", [
    "config a 'n'\n\toption x 1\nconfig a 'n'\n\toption y 2\n",  # repeated section: merged
    "config a ''\n\toption x 1\n",  # empty name: anonymous
    "config a 'b'\n\toption key ''\n\toption x ''\n\tlist l ''\n",  # empty option: nothing
    "config a 'b'\n\toption x 1\n\toption x ''\n",  # ... not even a deletion
    "config a 'b'\n\toption x 1\n\toption y 2\n\toption x 3\n",  # replaced in its place
    "config a 'b'\n\toption x 1\n\tlist x 2\n",  # an option becomes a list's first item
    "config a 'b'\n\toption x\n",  # no value: nothing
    "c a 'b'\n\to x 1\n\tl y 2\np pkg\n",  # one-letter keywords
    "config a b; option x y\n",  # `;` after a plain word ends the line
    "config a 'b'; option x y\n",  # ... after a quoted one, a statement
    "config a 'b';\n",  # ... and then a line end is an error
    "config a 'b'\n\toption x ab#cd ef\n",  # `#` inside a word
    "config a 'b'\n\toption x \"a\\nb\\\nc\"\n",  # escapes and a continuation
    "config a 'b'\n\toption x y \\\n\toption z w\n",  # continuation joins two statements
    "config a.b 'b'\n",  # types: printable ASCII
    "config a 'b\n'\n",  # a newline in a name
    "config a\r\n\toption x 'v'\r\n",  # CR LF
    "config\r\n",
    "config a 'b'\n\toption x 'v'\nconfig c 'b'\n",  # repeated name, other type: error
    "config x 'cfg02b608'\nconfig c\n\toption y 1\nconfig c 'cfg02b608'\n\toption z 2\n",
    "config x 'cfg02b608'\nconfig c\n\toption y 1\nconfig x 'cfg02b608'\n\toption z 2\n",
    "config c\n\toption y 1\nconfig c 'cfg01b608'\n\toption z 2\n",  # adds to the anonymous
    "config a 'b'\npackage x-y\npackage 'x.y'\n",
    "config a 'b'\n\toption x 'v'",  # no newline at the end
])
def test_libuci_quirks(text):
    assert_same({"q": text})


@pytest.mark.parametrize("text, edits", [
    ("config a\noption y \\\n", [("set", "x", "1")]),  # a continuation into the file's end
    ("config a 'b';", [("set", "x", "1")]),  # `;` at the end of the file
    ("config a 'b'\n\toption x 'v'", [("set", "y", "1")]),  # no newline at the end
    ("config a 'b'; option x '1'; option y '2'\n", [("set", "x", "3")]),  # one line, 3 statements
    ("config a 'b'; config c 'd'\n", [("set", "x", "1")]),  # new option between two sections
    ("config a 'n'\n\toption x 1\nconfig c 'm'\nconfig a 'n'\n\toption y 2\n",
     [("set", "z", "3"), ("delete", "y", None), ("drop", "m", None)]),
    ("config a 'n'\nconfig c 'm'\nconfig a 'n'\n", [("drop", "n", None), ("set", "x", "1")]),
    ("config a 'b'\n\toption key ''\n\toption o ''\n", [("set", "key", "k"), ("set", "o", "")]),
    ("config a 'b'\n\toption x 1\n\tlist x 2\n\toption x ''\n", [("delete", "x", None)]),
    ("config a 'b'\n\tlist x 1\n", [("list", "x", ["", "it's", "a\nb"])]),
])
def test_edits_where_libuci_is_quirky(text, edits):
    doc = uci.parse(text, "q")
    _apply_edits(doc, edits, [0] * len(edits))
    written = doc.dump()
    assert assert_same({"q": written})["q"] == torbox_model(doc), repr(written)


# Files torbox reads and writes -------------------------------------------------------------

def _torbox(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, str(TORBOX), *args], capture_output=True, text=True,
                         cwd=cwd)
    assert res.returncode == 0, res.stderr
    return res


def _openwrt_defaults() -> dict[str, Path]:
    """OpenWrt's own default files: the userland's /etc/config where it has them, else ours."""
    root, _ = userland()
    out = {}
    for name in UCI_FILES:
        built = root / "etc" / "config" / name
        out[name] = built if built.is_file() else STOCK / name
    return out


def test_files_torbox_reads_are_read_the_same():
    texts = {str(p.relative_to(REPO)): p.read_text() for p in CONFIGS}
    texts.update({f"default {n}": p.read_text() for n, p in _openwrt_defaults().items()})
    texts.update({f"stock {p.name}": p.read_text() for p in sorted(STOCK.iterdir())})
    theirs = assert_same(texts)
    assert all(v is not None for v in theirs.values())


def _by_name(sections: list) -> dict:
    return {s[1]: s for s in sections}


def assert_means(sections: list, ch: render_openwrt.Change, file: str) -> None:
    """libuci's reading of a written file holds torbox's change as torbox means it."""
    if ch.name is not None:
        sec = _by_name(sections).get(ch.name)
    else:
        sec = next((s for s in sections if s[2] == ch.type and all(
            dict(s[4]).get(k) == v for k, v in (ch.match or {}).items())), None)
    if sec is None:
        assert ch.optional, f"{file}: no section for {ch}"
        return
    assert sec[2] == ch.type, f"{file}: {sec[1]} has type {sec[2]}, torbox means {ch.type}"
    opts = dict(sec[4])
    want: dict[str, object] = {}
    for kind, name, value in ch.options:
        if kind == "option":
            want[name] = value
        else:
            want.setdefault(name, [])
            want[name].append(value)  # type: ignore[union-attr]
    want = {k: v for k, v in want.items() if v != ""}
    if ch.own:
        assert opts == want, f"{file}: section {ch.name} reads {opts}, torbox means {want}"
    else:
        for k, v in want.items():
            assert opts.get(k) == v, f"{file}: {ch.name or ch.type}.{k}: {opts.get(k)!r} != {v!r}"
    for name, value in ch.add_list:
        assert value in opts.get(name, []), f"{file}: {name} lacks {value}"
    for name, value in ch.del_list:
        assert value not in opts.get(name, []), f"{file}: {name} keeps {value}"


@pytest.mark.parametrize("cfg_path", CONFIGS, ids=lambda p: p.name)
def test_files_torbox_writes_are_read_as_meant(cfg_path, tmp_path):
    own = tmp_path / "torbox"
    shutil.copy(cfg_path, own)
    _torbox("genkeys", "--config", str(own))  # the shipped file has no keys yet
    cfg = config.load(str(own))
    cfg_path = own
    # Fragments: `torbox render --target openwrt`.
    _torbox("render", "--config", str(cfg_path), "--target", "openwrt", "--out",
            str(tmp_path / "render"))
    texts = {f"fragment {n}": (tmp_path / "render" / "uci" / n).read_text() for n in UCI_FILES}
    # Merged: `torbox apply` onto OpenWrt's default files, twice (the second changes nothing).
    root = tmp_path / "root"
    (root / "etc" / "config").mkdir(parents=True)
    for name, src in _openwrt_defaults().items():
        shutil.copy(src, root / "etc" / "config" / name)
    for _ in range(2):
        _torbox("apply", "--config", str(cfg_path), "--target", "openwrt", "--root", str(root),
                "--no-nft", "--no-reload")
    texts.update({f"merged {n}": (root / "etc" / "config" / n).read_text() for n in UCI_FILES})
    theirs = assert_same(texts)
    # the `uci` command accepts them too, and its export reads back the same
    exported = {key: uci_export(text) for key, text in texts.items()}
    assert {k: torbox_read(v) for k, v in exported.items()} == theirs
    for ch in render_openwrt.changes(cfg):
        for kind in ("fragment", "merged"):
            sections = theirs[f"{kind} {ch.file}"]
            assert sections is not None
            assert_means(sections, ch, f"{kind} {ch.file}")


def test_genkeys_output_is_read_with_keys(tmp_path):
    """The shipped config has `option key ''` (libuci: no key); genkeys fills every one."""
    path = tmp_path / "torbox"
    shutil.copy(REPO / "files" / "etc" / "config" / "torbox", path)
    before = libuci_read({"c": path.read_text()})["c"]
    assert before is not None
    nets = [s for s in before if s[2] == "network"]
    assert nets and all("key" not in dict(s[4]) for s in nets)
    _torbox("genkeys", "--config", str(path))
    text = path.read_text()
    after = assert_same({"c": text})["c"]
    assert after is not None
    for sec in after:
        if sec[2] == "network":
            assert len(dict(sec[4])["key"]) == 20, sec
    assert "option key ''" not in text  # each empty key was replaced in its place
    config.load(str(path))  # and torbox accepts the result

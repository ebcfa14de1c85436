"""UCI reader/writer: syntax cases, errors with file:line, lossless round trips."""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torbox import uci

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "openwrt")


def test_quotes_escapes_and_lists():
    text = (
        "# comment\n"
        "package network\n\n"
        "config interface 'lan' # trailing comment\n"
        "\toption proto \"static\"\n"
        "\toption a 'it'\\''s'\n"
        "\toption b \"say \\\"hi\\\" \\\\ done\"\n"
        "\toption c un\\ quoted\n"
        "\toption d 'con''cat'\"enated\"\n"
        "\tlist dns '1.1.1.1'\n"
        "\tlist dns 9.9.9.9\n"
        "\n"
        "config zone\n"
        "\toption name wan\n"
    )
    doc = uci.parse(text, "x")
    assert doc.dump() == text
    lan = doc.section("lan")
    assert lan.get("proto") == "static"
    assert lan.get("a") == "it's"
    assert lan.get("b") == 'say "hi" \\ done'
    assert lan.get("c") == "un quoted"
    assert lan.get("d") == "concatenated"
    assert lan.get_list("dns") == ["1.1.1.1", "9.9.9.9"]
    zones = doc.sections_of("zone")
    assert len(zones) == 1 and zones[0].name is None and zones[0].get("name") == "wan"
    assert doc.package == "network"


def test_multiline_value_and_line_numbers():
    doc = uci.parse("config a 'b'\n\toption x 'one\ntwo'\n\toption y 'z'\n", "f")
    sec = doc.section("b")
    assert sec.get("x") == "one\ntwo"
    assert sec.option_line("y") == 4


def test_later_option_replaces_earlier_and_text_is_kept():
    text = "config a 'b'\n\toption x '1'\n\toption x '2'\n"
    doc = uci.parse(text)
    assert doc.section("b").get("x") == "2"
    assert doc.dump() == text


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("option x 'y'\n", 1, "'option' before any 'config' line"),
        ("config a 'b'\n\toption x 'unterminated\n", 2, "unterminated single quote"),
        ("config a 'b'\n\toption x \"open\n", 2, "unterminated double quote"),
        ("config a 'b'\n\tfoo x 'y'\n", 2, "unknown keyword 'foo'"),
        ("config\n", 1, "'config' takes a type"),
        ("config a 'b' 'c'\n", 1, "'config' takes a type"),
        ("config a 'b-c'\n", 1, "invalid section name 'b-c'"),
        ("config 'a b'\n", 1, "invalid section type 'a b'"),
        ("config a\n\toption 'x y' 'z'\n", 2, "invalid option name 'x y'"),
        ("config a\n\toption x\n", 2, "'option' takes a name and one value"),
        ("config a\n\tlist x 'y' 'z'\n", 2, "'list' takes a name and one value"),
        ("config a 'n'\nconfig a 'n'\n", 2, "section 'n' is defined twice"),
        ("\n\npackage\n", 3, "'package' takes exactly one name"),
    ],
)
def test_errors_name_file_and_line(text, line, message):
    with pytest.raises(uci.UciSyntaxError) as err:
        uci.parse(text, "/etc/config/x")
    assert err.value.line == line
    assert message in err.value.message
    assert str(err.value).startswith(f"/etc/config/x:{line}: ")


@pytest.mark.parametrize("name", ["network", "wireless", "dhcp", "firewall", "tor"])
def test_stock_openwrt_files_round_trip_byte_for_byte(name):
    text = open(os.path.join(DATA, name), encoding="utf-8").read()
    assert uci.parse(text, name).dump() == text


def test_edits_keep_comments_and_order():
    text = open(os.path.join(DATA, "firewall"), encoding="utf-8").read()
    doc = uci.parse(text, "firewall")
    defaults = doc.sections_of("defaults")[0]
    doc.set_option(defaults, "drop_invalid", "1")
    out = doc.dump()
    assert "# Uncomment this line to disable ipv6 rules" in out
    assert "see https://dev.openwrt.org/ticket/4108" in out
    again = uci.parse(out, "firewall")
    assert again.sections_of("defaults")[0].get("drop_invalid") == "1"
    assert [s.get("name") for s in again.sections_of("zone")] == ["lan", "wan"]
    # only the new line differs
    assert len(out.splitlines()) == len(text.splitlines()) + 1


def test_set_list_delete_option_and_section():
    doc = uci.parse("config a 'b'\n\tlist l '1'\n\toption o 'x'\n\nconfig c 'd'\n")
    sec = doc.section("b")
    doc.set_list(sec, "l", ["2", "3"])
    doc.delete_option(sec, "o")
    assert doc.delete_section("d")
    assert doc.dump() == "config a 'b'\n\tlist l '2'\n\tlist l '3'\n\n"


# Property-based: any model written by dump() reads back as the same model.
names = st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True)
values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=40,
)
options = st.lists(st.tuples(st.sampled_from(["option", "list"]), names, values), max_size=6)
sections = st.lists(
    st.tuples(st.from_regex(r"[A-Za-z0-9_-]{1,10}", fullmatch=True), st.one_of(st.none(), names),
              options),
    max_size=6,
    unique_by=lambda s: s[1] if s[1] is not None else object(),
)


def _model(doc):
    return [
        (s.type, s.name, [(o.kind, o.name, o.value) for o in s.options]) for s in doc.sections
    ]


def _normalise(spec):
    out = []
    for type_, name, opts in spec:
        kept = []
        for kind, oname, value in opts:
            if kind == "option":
                kept = [k for k in kept if k[1] != oname]
            kept.append((kind, oname, value))
        out.append((type_, name, kept))
    return out


@settings(max_examples=300, deadline=None)
@given(sections)
def test_round_trip_model(spec):
    doc = uci.UciFile("gen")
    for type_, name, opts in spec:
        sec = doc.add_section(type_, name)
        for kind, oname, value in opts:
            sec.options.append(uci.Option(kind, oname, value))
            doc.nodes.append(sec.options[-1])
    text = doc.dump()
    again = uci.parse(text, "gen")
    assert _model(again) == _normalise(spec)
    # and what was read is written back byte for byte
    assert again.dump() == text


quoted = st.one_of(
    values.map(uci.quote),
    st.text(alphabet=st.sampled_from('abc \\"#\n\''), max_size=12).map(
        lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    ),
    st.from_regex(r"[A-Za-z0-9_./:-]{1,10}", fullmatch=True),
)
comment = st.one_of(st.just(""), st.text(alphabet="ab #'\"", max_size=8).map(lambda s: " # " + s))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(names, quoted, comment), max_size=8), st.booleans())
def test_hand_written_text_is_lossless(opts, crlf_blank):
    lines = ["# header", "config thing 'x'" + (" # c" if crlf_blank else "")]
    for name, value, cmt in opts:
        lines.append(f"\toption {name} {value}{cmt}")
    text = "\n".join(lines) + "\n"
    doc = uci.parse(text, "gen")
    assert doc.dump() == text

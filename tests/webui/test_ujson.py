"""The bundled ujson against CPython's json (hypothesis), and under real MicroPython."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webui import ujson

REPO = Path(__file__).resolve().parents[2]
MPY_DIR = REPO / "build" / "mpy"  # `make mpy-webui` installs the npm package here
RUNNER = Path(__file__).with_name("mpy_runner.mjs")
MPY_MODULE = MPY_DIR / "node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs"

scalars = (st.none() | st.booleans() | st.integers(-(10**30), 10**30)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text())
json_data = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=5)
    | st.dictionaries(st.text(max_size=8), kids, max_size=5),
    max_leaves=25,
)


def same(a, b) -> bool:
    """Equality where NaN equals NaN and -0.0 is told from 0.0."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(json_data)
def test_dumps_matches_cpython(data):
    assert ujson.dumps(data) == json.dumps(data)
    assert ujson.dumps(data, ensure_ascii=False) == json.dumps(data, ensure_ascii=False)
    assert ujson.dumps(data, separators=(",", ":")) == json.dumps(data, separators=(",", ":"))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(json_data)
def test_loads_matches_cpython(data):
    for text in (json.dumps(data), json.dumps(data, ensure_ascii=False), json.dumps(data, indent=2)):
        assert same(ujson.loads(text), json.loads(text))
        assert same(ujson.loads(text.encode()), json.loads(text.encode()))


JSONISH = st.text(alphabet=list('{}[]",:0123456789.eE+-truefalsnNIfiy \t\n\\/ubx'), max_size=30)


@settings(max_examples=1500)
@given(JSONISH)
def test_loads_accepts_and_rejects_like_cpython(text):
    try:
        want = json.loads(text)
    except ValueError:
        with pytest.raises(ValueError):
            ujson.loads(text)
        return
    assert same(ujson.loads(text), want)


def test_dict_keys_like_cpython():
    data = {1: "a", 2.5: "b", False: "c", None: "d"}
    assert ujson.dumps(data) == json.dumps(data)
    with pytest.raises(TypeError):
        ujson.dumps({(1, 2): 3})
    with pytest.raises(TypeError):
        ujson.dumps(object())


def test_surrogate_pairs_and_escapes():
    text = '"\\ud83d\\ude00 \\u00e9 \\/ \\b\\f\\n\\r\\t \\ud800x"'
    assert ujson.loads(text) == json.loads(text)
    for bad in ('"\\x"', '"\\u12"', '"a\nb"', "\ufeff1", "[1,]", "{'a':1}", "01", "1.", "-"):
        with pytest.raises(ValueError):
            ujson.loads(bad)


# -- MicroPython (WebAssembly port on Node) ---------------------------------------------------

mpy_data = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=True, width=64)
    | st.text(st.characters(exclude_categories=("Cs",))),
    lambda kids: st.lists(kids, max_size=4)
    | st.dictionaries(st.text(st.characters(exclude_categories=("Cs",)), max_size=6), kids,
                      max_size=4),
    max_leaves=15,
)


def _mpy_available() -> bool:
    return bool(shutil.which("node")) and MPY_MODULE.is_file()


@pytest.mark.skipif(not _mpy_available(),
                    reason="run `make mpy-webui` (npm package for MicroPython on Node)")
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(mpy_data, min_size=40, max_size=80))
def test_under_micropython(tmp_path_factory, cases):
    """Run ujson.py inside MicroPython: parse CPython's output, dump it back, compare here."""
    tmp_path = tmp_path_factory.mktemp("mpy")
    cases = cases + [{"a": [1, 2.5, None, True, "x\u00e9\U0001f600\n\"\\"]}, [], {}, "", 0, -0.0,
              1e300, 12345678901234567890, [[[]]], {"k": {"k": {"k": [1e-7]}}}]
    texts = [json.dumps(c) for c in cases] + [json.dumps(c, ensure_ascii=False) for c in cases]
    bad = ["[1,]", "{", '"\\x"', "01", "[1 2]", "nul"]
    (tmp_path / "in.json").write_text(json.dumps({"good": texts, "bad": bad}))
    res = subprocess.run(["node", str(RUNNER), str(MPY_MODULE), str(REPO / "webui" / "ujson.py"),
                          str(tmp_path / "in.json")],
                         capture_output=True, text=True, timeout=300,
                         cwd=str(tmp_path))
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["impl"] == "micropython"
    assert out["bad_rejected"] == len(bad)
    for text, back in zip(texts, out["dumped"], strict=True):
        # what MicroPython dumps, CPython reads back as the same value
        assert same(json.loads(back), json.loads(text)), (text, back)
    # ensure_ascii output is byte-identical to CPython's, except float spelling and the order
    # of keys (MicroPython's dicts do not keep insertion order)
    for case, back in zip(cases, out["dumped"][: len(cases)], strict=True):
        if not _has_float(case) and not _has_big_dict(case):
            assert back == json.dumps(case)


def _has_big_dict(x) -> bool:
    if isinstance(x, list):
        return any(_has_big_dict(v) for v in x)
    if isinstance(x, dict):
        return len(x) > 1 or any(_has_big_dict(v) for v in x.values())
    return False


def _has_float(x) -> bool:
    if isinstance(x, float):
        return True
    if isinstance(x, list):
        return any(_has_float(v) for v in x)
    if isinstance(x, dict):
        return any(_has_float(v) for v in x.values())
    return False

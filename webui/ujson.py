"""A small JSON module with ujson's API (`dumps`, `loads`).

Written in the common subset of CPython 3 and MicroPython, so the same file runs on the
router's python3-light and on a microcontroller. Output matches CPython's `json.dumps`
(same escapes, same float text on CPython); `loads` accepts what `json.loads` accepts,
including NaN/Infinity, and raises ValueError otherwise.

Known limits: lone surrogate escapes (\\ud800 without its pair) are kept on CPython but
cannot exist in a MicroPython string; nesting depth is bounded by the interpreter's stack.
"""

__all__ = ["dumps", "loads", "JSONError"]

_SHORT = {34: '\\"', 92: "\\\\", 10: "\\n", 13: "\\r", 9: "\\t", 8: "\\b", 12: "\\f"}
_HEX = "0123456789abcdef"


class JSONError(ValueError):
    pass


def _u4(code):
    return "\\u" + _HEX[(code >> 12) & 15] + _HEX[(code >> 8) & 15] + _HEX[(code >> 4) & 15] + \
        _HEX[code & 15]


def _string(s, ascii_only):
    for c in s:
        o = ord(c)
        if o < 32 or o == 34 or o == 92 or (ascii_only and o > 126):
            break
    else:
        return '"' + s + '"'  # fast path: nothing to escape
    out = ['"']
    for c in s:
        o = ord(c)
        if o == 34 or o == 92 or o < 32:
            out.append(_SHORT.get(o) or _u4(o))
        elif ascii_only and o > 126:
            if o > 0xFFFF:
                o -= 0x10000
                out.append(_u4(0xD800 | (o >> 10)))
                out.append(_u4(0xDC00 | (o & 0x3FF)))
            else:
                out.append(_u4(o))
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def _float(f):
    if f != f:
        return "NaN"
    if f == float("inf"):
        return "Infinity"
    if f == -float("inf"):
        return "-Infinity"
    return repr(f)


def _key(k, ascii_only):
    if isinstance(k, str):
        return _string(k, ascii_only)
    if k is True:
        return '"true"'
    if k is False:
        return '"false"'
    if k is None:
        return '"null"'
    if isinstance(k, int):
        return '"' + str(k) + '"'
    if isinstance(k, float):
        return '"' + _float(k) + '"'
    raise TypeError("keys must be str, int, float, bool or None, not " + type(k).__name__)


def _dump(o, out, item_sep, key_sep, ascii_only, depth):
    if depth > 500:
        raise ValueError("nesting too deep")
    if o is None:
        out.append("null")
    elif o is True:
        out.append("true")
    elif o is False:
        out.append("false")
    elif isinstance(o, str):
        out.append(_string(o, ascii_only))
    elif isinstance(o, int):
        out.append(str(int(o)))
    elif isinstance(o, float):
        out.append(_float(o))
    elif isinstance(o, (list, tuple)):
        if not o:
            out.append("[]")
            return
        out.append("[")
        first = True
        for v in o:
            if not first:
                out.append(item_sep)
            first = False
            _dump(v, out, item_sep, key_sep, ascii_only, depth + 1)
        out.append("]")
    elif isinstance(o, dict):
        if not o:
            out.append("{}")
            return
        out.append("{")
        first = True
        for k in o:
            if not first:
                out.append(item_sep)
            first = False
            out.append(_key(k, ascii_only))
            out.append(key_sep)
            _dump(o[k], out, item_sep, key_sep, ascii_only, depth + 1)
        out.append("}")
    else:
        raise TypeError("Object of type " + type(o).__name__ + " is not JSON serializable")


def dumps(obj, separators=None, ensure_ascii=True):
    """Serialise like CPython's json.dumps(obj, separators=..., ensure_ascii=...)."""
    if separators is None:
        item_sep, key_sep = ", ", ": "
    else:
        item_sep, key_sep = separators
    out = []
    _dump(obj, out, item_sep, key_sep, ensure_ascii, 0)
    return "".join(out)


# Parsing works on UTF-8 bytes: indexing a MicroPython str is O(n), indexing bytes is O(1).

_WS = (32, 9, 10, 13)
_ESC = {34: '"', 92: "\\", 47: "/", 98: "\b", 102: "\f", 110: "\n", 114: "\r", 116: "\t"}


def _err(msg, pos):
    raise JSONError(msg + " at byte " + str(pos))


class _Parser:
    def __init__(self, b, errors):
        self.b = b
        self.n = len(b)
        self.errors = errors

    def ws(self, i):
        b = self.b
        n = self.n
        while i < n and b[i] in _WS:
            i += 1
        return i

    def hex4(self, i):
        b = self.b
        if i + 4 > self.n:
            _err("bad \\u escape", i)
        v = 0
        for j in range(i, i + 4):
            c = b[j]
            if 48 <= c <= 57:
                d = c - 48
            elif 97 <= c <= 102:
                d = c - 87
            elif 65 <= c <= 70:
                d = c - 55
            else:
                _err("bad \\u escape", i)
            v = v * 16 + d
        return v

    def string(self, i):
        # i is just past the opening quote
        b = self.b
        n = self.n
        parts = []
        start = i
        while True:
            if i >= n:
                _err("unterminated string", start - 1)
            c = b[i]
            if c == 34:
                parts.append(b[start:i].decode("utf-8", self.errors))
                return "".join(parts), i + 1
            if c == 92:
                parts.append(b[start:i].decode("utf-8", self.errors))
                if i + 1 >= n:
                    _err("unterminated string", start - 1)
                e = b[i + 1]
                if e == 117:
                    u = self.hex4(i + 2)
                    i += 6
                    if 0xD800 <= u <= 0xDBFF and i + 1 < n and b[i] == 92 and b[i + 1] == 117:
                        u2 = self.hex4(i + 2)
                        if 0xDC00 <= u2 <= 0xDFFF:
                            u = 0x10000 + (((u - 0xD800) << 10) | (u2 - 0xDC00))
                            i += 6
                    parts.append(chr(u))
                else:
                    s = _ESC.get(e)
                    if s is None:
                        _err("invalid escape", i)
                    parts.append(s)
                    i += 2
                start = i
                continue
            if c < 32:
                _err("control character in string", i)
            i += 1

    def number(self, i):
        b = self.b
        n = self.n
        start = i
        if i < n and b[i] == 45:
            i += 1
        if i < n and b[i] == 48:
            i += 1
        elif i < n and 49 <= b[i] <= 57:
            while i < n and 48 <= b[i] <= 57:
                i += 1
        else:
            if i + 8 <= n and b[i:i + 8] == b"Infinity" and start != i:
                return -float("inf"), i + 8
            _err("expecting value", start)
        is_float = False
        if i + 1 < n and b[i] == 46 and 48 <= b[i + 1] <= 57:
            is_float = True
            i += 1
            while i < n and 48 <= b[i] <= 57:
                i += 1
        if i < n and b[i] in (101, 69):
            j = i + 1
            if j < n and b[j] in (43, 45):
                j += 1
            if j < n and 48 <= b[j] <= 57:
                is_float = True
                i = j
                while i < n and 48 <= b[i] <= 57:
                    i += 1
        text = b[start:i].decode("utf-8")
        if is_float:
            return float(text), i
        return int(text), i

    def value(self, i, depth):
        b = self.b
        n = self.n
        if i >= n:
            _err("expecting value", i)
        c = b[i]
        if c == 34:
            return self.string(i + 1)
        if c == 123:
            return self.obj(i + 1, depth + 1)
        if c == 91:
            return self.arr(i + 1, depth + 1)
        if c == 110 and b[i:i + 4] == b"null":
            return None, i + 4
        if c == 116 and b[i:i + 4] == b"true":
            return True, i + 4
        if c == 102 and b[i:i + 5] == b"false":
            return False, i + 5
        if c == 78 and b[i:i + 3] == b"NaN":
            return float("nan"), i + 3
        if c == 73 and b[i:i + 8] == b"Infinity":
            return float("inf"), i + 8
        return self.number(i)

    def obj(self, i, depth):
        if depth > 1000:
            _err("nesting too deep", i)
        b = self.b
        d = {}
        i = self.ws(i)
        if i < self.n and b[i] == 125:
            return d, i + 1
        while True:
            if i >= self.n or b[i] != 34:
                _err("expecting property name in double quotes", i)
            k, i = self.string(i + 1)
            i = self.ws(i)
            if i >= self.n or b[i] != 58:
                _err("expecting ':' delimiter", i)
            v, i = self.value(self.ws(i + 1), depth)
            d[k] = v
            i = self.ws(i)
            if i < self.n and b[i] == 44:
                i = self.ws(i + 1)
                continue
            if i < self.n and b[i] == 125:
                return d, i + 1
            _err("expecting ',' delimiter", i)

    def arr(self, i, depth):
        if depth > 1000:
            _err("nesting too deep", i)
        b = self.b
        a = []
        i = self.ws(i)
        if i < self.n and b[i] == 93:
            return a, i + 1
        while True:
            v, i = self.value(i, depth)
            a.append(v)
            i = self.ws(i)
            if i < self.n and b[i] == 44:
                i = self.ws(i + 1)
                continue
            if i < self.n and b[i] == 93:
                return a, i + 1
            _err("expecting ',' delimiter", i)


def loads(s):
    """Parse JSON text (str or UTF-8 bytes) like CPython's json.loads."""
    errors = "strict"
    if isinstance(s, str):
        if s and s[0] == "\ufeff":
            _err("unexpected UTF-8 BOM", 0)
        try:
            b = s.encode("utf-8")
        except UnicodeError:
            # CPython only: raw lone surrogates in the text are kept as they are
            b = s.encode("utf-8", "surrogatepass")
            errors = "surrogatepass"
    elif isinstance(s, (bytes, bytearray)):
        b = bytes(s)
        if b[:3] == b"\xef\xbb\xbf":
            _err("unexpected UTF-8 BOM", 0)
        b.decode("utf-8")  # reject bad UTF-8 up front, as json.loads does
    else:
        raise TypeError("the JSON object must be str or bytes, not " + type(s).__name__)
    p = _Parser(b, errors)
    v, i = p.value(p.ws(0), 0)
    i = p.ws(i)
    if i != p.n:
        _err("extra data", i)
    return v

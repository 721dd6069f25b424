"""Named Jinja filters that turn Python values into Kotlin, Gradle and XML source text.

Every value that comes from a config file or a model folder (labels, texts, versions) reaches the
generated sources only through one of these filters, so hostile text (quotes, ``$``, backslashes,
newlines, NUL, lone surrogates, emoji) can neither break the code nor change its meaning.
"""

from __future__ import annotations

import math
from typing import Iterable

# Characters that have a short escape in Kotlin string literals. `$` must be escaped: it starts a
# string template in Kotlin ("$name", "${expr}").
_KOTLIN_SHORT_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "$": "\\$",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
}


def kotlin_string(value: str) -> str:
    """A Kotlin string literal (with quotes) holding exactly ``value``.

    The result is plain ASCII: everything outside printable ASCII is written as ``\\uXXXX`` (astral
    code points as their UTF-16 surrogate pair, which is what a Kotlin/Java String holds), so the
    generated file's encoding, a reader's editor or a bidi control character cannot alter it.
    """
    if not isinstance(value, str):
        raise TypeError(f"kotlin_string expects a str, got {type(value).__name__}")
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch in _KOTLIN_SHORT_ESCAPES:
            out.append(_KOTLIN_SHORT_ESCAPES[ch])
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04X}")
        else:
            high, low = _surrogates(code)
            out.append(f"\\u{high:04X}\\u{low:04X}")
    out.append('"')
    return "".join(out)


def _surrogates(code: int) -> tuple[int, int]:
    code -= 0x10000
    return 0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)


def kotlin_string_list(values: Iterable[str]) -> str:
    """``listOf("a", "b")`` (``emptyList<String>()`` when there is nothing)."""
    values = list(values)
    if not values:
        return "emptyList<String>()"
    return "listOf(" + ", ".join(kotlin_string(v) for v in values) + ")"


def kotlin_int_array(values: Iterable[int]) -> str:
    values = [int(v) for v in values]
    return "intArrayOf(" + ", ".join(str(v) for v in values) + ")"


def kotlin_float(value: float) -> str:
    """A Kotlin Float literal that round-trips the float32 nearest to ``value``."""
    value = float(value)
    if math.isnan(value):
        return "Float.NaN"
    if math.isinf(value):
        return "Float.POSITIVE_INFINITY" if value > 0 else "Float.NEGATIVE_INFINITY"
    return kotlin_double(value) + "f"


def kotlin_float_array(values: Iterable[float]) -> str:
    return "floatArrayOf(" + ", ".join(kotlin_float(v) for v in values) + ")"


def kotlin_double(value: float) -> str:
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"not a finite double: {value}")
    text = repr(value)
    return text if ("e" in text or "." in text) else text + ".0"


def code_points(value: str) -> list[int]:
    """The Unicode code points of ``value``: an encoding-independent witness for round-trip tests."""
    return [ord(ch) for ch in value]


def kotlin_bool(value: bool) -> str:
    return "true" if value else "false"


def xml_escape(value: str) -> str:
    """Text or attribute content for XML 1.0 (POM, AndroidManifest): escapes markup characters and
    writes every character outside printable ASCII as a character reference. Characters XML 1.0
    cannot hold at all (NUL, most C0 controls, lone surrogates) are rejected."""
    out = []
    for ch in str(value):
        code = ord(ch)
        if ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch == '"':
            out.append("&quot;")
        elif ch == "'":
            out.append("&apos;")
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code in (0x9, 0xA, 0xD) or 0xA0 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF or 0x7F <= code <= 0x9F:
            out.append(f"&#x{code:X};")
        else:
            raise ValueError(f"U+{code:04X} cannot appear in an XML 1.0 document")
    return "".join(out)


def kotlin_comment(value: str) -> str:
    """Text safe inside a Kotlin ``//`` or ``/* */`` comment: one line, no comment terminators."""
    text = " ".join(str(value).split())
    return text.replace("*/", "* /").replace("/*", "/ *")


FILTERS = dict(
    kotlin_string=kotlin_string,
    kotlin_string_list=kotlin_string_list,
    kotlin_int_array=kotlin_int_array,
    kotlin_float=kotlin_float,
    kotlin_float_array=kotlin_float_array,
    kotlin_double=kotlin_double,
    kotlin_bool=kotlin_bool,
    code_points=code_points,
    xml_escape=xml_escape,
    kotlin_comment=kotlin_comment,
)

"""Jinja filters that turn Python values into Swift source text, safely.

Everything from outside mobilekit (labels from a model's config, token strings) reaches Swift
source only through these filters; names (module, type) are checked against Swift's grammar
before rendering (``mobilekit.config.names`` and ``generator._check_names``).
"""

from __future__ import annotations

import unicodedata

from mobilekit.errors import SdkBuildError

_SIMPLE_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}


def swift_string(value: str) -> str:
    """A Swift string literal whose value is exactly ``value``.

    Backslash and quote are escaped (so ``\\(`` can never start an interpolation), and so is every
    scalar that is invisible or could change how the source reads: controls, format characters
    (bidi overrides, zero-width joiners), separators other than the space, combining marks (which
    would attach to the quote) and unassigned or private-use code points; they become ``\\u{...}``.
    Letters, digits, symbols and emoji stay as they are, so the source stays readable.
    """
    if not isinstance(value, str):
        raise TypeError(f"swift_string expects a string, got {type(value).__name__}")
    out = ['"']
    for ch in value:
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF:
            raise SdkBuildError(
                f"the text {value!r} contains a lone UTF-16 surrogate (U+{code:04X}), which no Swift string can hold",
                hint="fix the text in the model's config (id2label) or the mobilekit.toml it came from",
            )
        if ch in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[ch])
        elif ch != " " and unicodedata.category(ch)[0] in "CZM":
            out.append(f"\\u{{{code:X}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def swift_utf8_array(value: str) -> str:
    """``[0x61, 0x62]``: the UTF-8 bytes of ``value`` as a Swift array literal, no escaping involved."""
    return "[" + ", ".join(f"0x{b:02X}" for b in value.encode("utf-8")) + "]"


def swift_utf8_lines(value: str, per_line: int = 12) -> list[str]:
    """The UTF-8 bytes of ``value`` as lines of ``0x61, 0x62,`` (for a multi-line array literal)."""
    data = value.encode("utf-8")
    return [" ".join(f"0x{b:02X}," for b in data[i : i + per_line]) for i in range(0, len(data), per_line)]


def swift_bool(value: bool) -> str:
    if not isinstance(value, bool):
        raise TypeError(f"swift_bool expects a bool, got {type(value).__name__}")
    return "true" if value else "false"


FILTERS = {
    "swift_string": swift_string,
    "swift_utf8_array": swift_utf8_array,
    "swift_utf8_lines": swift_utf8_lines,
    "swift_bool": swift_bool,
}

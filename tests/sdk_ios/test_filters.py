"""Swift literal filters: every text reaches Swift source through them."""

from __future__ import annotations

import pytest

from mobilekit.errors import SdkBuildError
from mobilekit.sdk.ios.filters import swift_bool, swift_string, swift_utf8_array, swift_utf8_lines


@pytest.mark.parametrize(
    "text, literal",
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("\\(interpolation)", '"\\\\(interpolation)"'),
        ("two\nlines\r\tx\0", '"two\\nlines\\r\\tx\\0"'),
        ("naïve 東京 😀", '"naïve 東京 😀"'),  # readable text stays readable
        ("e\u0301", '"e\\u{301}"'),  # a combining mark would attach to the quote
        ("a\u202eb\u200bc\u2028d", '"a\\u{202E}b\\u{200B}c\\u{2028}d"'),  # bidi, zero-width, line separator
        ("👨\u200d👩", '"👨\\u{200D}👩"'),
        ("\u00a0", '"\\u{A0}"'),
        ("", '""'),
    ],
)
def test_swift_string_escapes_what_could_change_the_source(text, literal):
    assert swift_string(text) == literal


def test_swift_string_refuses_a_lone_surrogate():
    with pytest.raises(SdkBuildError, match="surrogate"):
        swift_string("bad \ud800")


def test_utf8_literals():
    assert swift_utf8_array("é") == "[0xC3, 0xA9]"
    assert swift_utf8_lines("abc", per_line=2) == ["0x61, 0x62,", "0x63,"]
    assert swift_utf8_lines("") == []
    assert swift_bool(True) == "true" and swift_bool(False) == "false"
    with pytest.raises(TypeError):
        swift_bool(1)

"""The Jinja filters that put config and model text into Kotlin, Gradle and XML sources.

The decisive check of kotlin_string is on the JVM (tests/sdk_android/test_build.py: the compiled
LABELS compared code point by code point); these tests pin the exact spelling and the edge cases.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from mobilekit.sdk.android.filters import (
    code_points,
    kotlin_comment,
    kotlin_double,
    kotlin_float,
    kotlin_string,
    kotlin_string_list,
    xml_escape,
)


@pytest.mark.parametrize(
    "text, literal",
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("$x ${y}", '"\\$x \\${y}"'),
        ("back\\slash", '"back\\\\slash"'),
        ("a\nb\r\tc\b", '"a\\nb\\r\\tc\\b"'),
        ("\x00\x07\x7f", '"\\u0000\\u0007\\u007F"'),
        ("naïve", '"na\\u00EFve"'),
        ("😀", '"\\uD83D\\uDE00"'),  # astral: the UTF-16 surrogate pair a JVM String holds
        ("\u202e\u2028", '"\\u202E\\u2028"'),  # bidi override and line separator never appear raw
        ("", '""'),
    ],
)
def test_kotlin_string(text, literal):
    assert kotlin_string(text) == literal


def test_kotlin_string_output_is_ascii_without_raw_templates():
    hostile = "".join(chr(c) for c in range(0, 0x250)) + "😀𝄞\ud800" + "$" * 3
    literal = kotlin_string(hostile)
    assert literal.isascii()
    body = literal[1:-1]
    # every '$' and '"' is escaped: after removing escaped pairs none is left
    stripped = body.replace("\\\\", "").replace("\\$", "").replace('\\"', "")
    assert "$" not in stripped and '"' not in stripped


def test_kotlin_string_rejects_non_strings():
    with pytest.raises(TypeError):
        kotlin_string(3)


def test_kotlin_string_list():
    assert kotlin_string_list([]) == "emptyList<String>()"
    assert kotlin_string_list(["a", "$"]) == 'listOf("a", "\\$")'


def test_numbers_round_trip():
    import numpy as np

    for value in (0.1, -2.5, 1e-30, 3.4e38, float(np.float32(0.3))):
        assert float(kotlin_float(value)[:-1]) == value
        assert kotlin_float(value).endswith("f")
    assert kotlin_float(2) == "2.0f"
    assert kotlin_float(float("nan")) == "Float.NaN"
    assert kotlin_double(1) == "1.0"
    with pytest.raises(ValueError):
        kotlin_double(float("inf"))


def test_code_points_are_code_points():
    assert code_points("a😀") == [97, 0x1F600]


def test_xml_escape_parses_back():
    text = 'A & B <c> "d" \'e\' naïve 😀'
    parsed = ET.fromstring(f'<x a="{xml_escape(text)}">{xml_escape(text)}</x>')
    assert parsed.text == text and parsed.get("a") == text
    assert xml_escape(text).isascii()


def test_xml_escape_rejects_what_xml_cannot_hold():
    with pytest.raises(ValueError, match="U\\+0000"):
        xml_escape("a\x00b")


def test_kotlin_comment_cannot_close_a_comment():
    assert "*/" not in kotlin_comment("evil */ code(); /* more\nlines")
    assert "\n" not in kotlin_comment("a\nb")

"""Checks that a name can be used where the generated SDKs use it.

A Kotlin package, a Kotlin/Java/Swift type and a Swift module each have their own grammar and
reserved words; a name that breaks them produces SDK code that does not compile, so it is
rejected up front with the reason.
"""

from __future__ import annotations

import re

# Kotlin hard keywords: never usable as identifiers (kotlinlang.org/docs/keyword-reference.html).
KOTLIN_HARD_KEYWORDS = frozenset(
    "as break class continue do else false for fun if in interface is null object package "
    "return super this throw true try typealias typeof val var when while".split()
)

# Java keywords and literals: a Kotlin library is also called from Java, and a Java keyword as a
# package segment or class name makes the library unusable there.
JAVA_RESERVED = frozenset(
    "abstract assert boolean break byte case catch char class const continue default do double "
    "else enum extends final finally float for goto if implements import instanceof int interface "
    "long native new package private protected public return short static strictfp super switch "
    "synchronized this throw throws transient try void volatile while true false null _ "
    "var yield record sealed permits".split()
)

# Swift keywords (The Swift Programming Language, Lexical Structure), plus the standard library
# type names that a generated type would shadow confusingly.
SWIFT_RESERVED = frozenset(
    "associatedtype class deinit enum extension fileprivate func import init inout internal let "
    "open operator private precedencegroup protocol public rethrows static struct subscript "
    "typealias var break case catch continue default defer do else fallthrough for guard if in "
    "repeat return throw switch where while Any as await false is nil self Self super throws "
    "true try async actor some any _".split()
)
SWIFT_SHADOWED_MODULES = frozenset(
    {"Swift", "Foundation", "CoreML", "XCTest", "SwiftUI", "UIKit", "AppKit", "Dispatch", "Combine", "Darwin", "Glibc"}
)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TYPE_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_MAVEN_ID = re.compile(r"^[A-Za-z0-9_.\-]+$")


def kotlin_package_problem(name: str) -> str | None:
    """Why ``name`` cannot be a Kotlin/Java package, or None if it can."""
    if not name:
        return "it is empty"
    segments = name.split(".")
    for segment in segments:
        if not segment:
            return "it has an empty segment (two dots, or a dot at either end)"
        if not _IDENTIFIER.match(segment):
            return f"segment {segment!r} is not an identifier (letters, digits and _, not starting with a digit)"
        if segment in KOTLIN_HARD_KEYWORDS:
            return f"segment {segment!r} is a Kotlin keyword"
        if segment in JAVA_RESERVED:
            return f"segment {segment!r} is a Java reserved word"
    if len(segments) < 2:
        return "Android requires at least two segments (for example com.example.sentiment)"
    return None


def type_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a class/struct name in Kotlin, Java and Swift at once, or None."""
    if not _TYPE_NAME.match(name or ""):
        return "it must start with an upper-case ASCII letter and contain only ASCII letters and digits (UpperCamelCase)"
    if name in KOTLIN_HARD_KEYWORDS or name in JAVA_RESERVED or name in SWIFT_RESERVED:
        return "it is a reserved word in Kotlin, Java or Swift"
    if name in SWIFT_SHADOWED_MODULES or name in {"String", "Int", "Float", "Array", "List", "Map", "Object", "Label"}:
        return "it would shadow a standard type or module"
    return None


def swift_module_problem(name: str) -> str | None:
    """Why ``name`` cannot be a Swift module / SwiftPM product name, or None."""
    if not _TYPE_NAME.match(name or ""):
        return "it must start with an upper-case ASCII letter and contain only ASCII letters and digits"
    if name in SWIFT_RESERVED:
        return "it is a Swift keyword"
    if name in SWIFT_SHADOWED_MODULES:
        return "it is the name of a system module it would shadow"
    return None


def maven_id_problem(name: str) -> str | None:
    """Why ``name`` cannot be a Maven groupId/artifactId, or None."""
    if not name or not _MAVEN_ID.match(name):
        return "it may contain only ASCII letters, digits, '.', '-' and '_'"
    return None


def pascal_case(text: str) -> str:
    """'movie-review sentiment' -> 'MovieReviewSentiment' (ASCII letters and digits only)."""
    words = re.findall(r"[A-Za-z0-9]+", text)
    return "".join(word[:1].upper() + word[1:] for word in words)


def package_segment(text: str) -> str:
    """'Movie-Review Sentiment' -> 'moviereviewsentiment'."""
    return "".join(re.findall(r"[a-z0-9]+", text.lower()))


def kebab_case(text: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))

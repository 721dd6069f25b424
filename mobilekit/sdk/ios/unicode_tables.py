"""The character classes of Hugging Face ``tokenizers``' BERT normalizer and pre-tokenizer, as data.

The Rust ``tokenizers`` library classifies characters with its own, older Unicode tables (the
``unicode_categories`` crate): it keeps Cf characters added after Unicode 9 (U+0890, U+13430...),
it does not treat later-assigned punctuation as punctuation (U+2E43...), nor later nonspacing
marks as accents. A native tokenizer that asks its own platform's Unicode tables (Swift's
``generalCategory``, ICU) therefore disagrees with the Python tokenizer on hundreds of code
points. So the classes are measured here, code point by code point, from the installed
``tokenizers`` itself, and the generated tokenizers look them up instead of guessing:

* ``removed``: dropped by ``clean_text`` (controls other than tab/CR/LF, format, private use, NUL,
  U+FFFD);
* ``whitespace``: turned into a space by ``clean_text``;
* ``nonspacing_marks``: dropped by ``strip_accents`` (after NFD);
* ``punctuation``: split off as its own token by ``BertPreTokenizer``;
* ``chinese``: surrounded by spaces by ``handle_chinese_chars``.

The result is committed as ``templates/ios/bert_unicode_tables.json`` (versioned data, with the
``tokenizers`` version it was measured from); a test re-measures it against the installed library.
Regenerate with ``python -m mobilekit.sdk.ios.unicode_tables``. What stays with the platform:
NFD decomposition and lower-case mappings (stable for characters both sides know).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mobilekit.templating import TEMPLATES_ROOT

TABLES_FILE = TEMPLATES_ROOT / "ios" / "bert_unicode_tables.json"
CLASSES = ("removed", "whitespace", "nonspacing_marks", "punctuation", "chinese")
# Batch separators: a starter the measured step leaves alone and that no character decomposes to
# ('Z' is kept by clean_text, but 'Ẑ' decomposes to 'Z' + U+0302; U+0001 is removed by clean_text).
_SENTINELS = {"clean": "Z", "strip": "\x01", "chinese": "\x01"}
_BLOCK = 1 << 16


def _code_points() -> list[int]:
    return [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]  # no surrogates in str


def _segments(normalizer, code_points: list[int], sentinel: str) -> list[str]:
    """normalize(c) for every c, in large batches: c1 S c2 S ... split on the sentinel S.

    Sound because no step crosses a starter: NFD reorders marks only up to the next starter
    (S), and clean_text / handle_chinese_chars / accent stripping act per character.
    """
    out: dict[int, str] = {ord(sentinel): normalizer.normalize_str(sentinel)}
    others = [cp for cp in code_points if cp != ord(sentinel)]
    for start in range(0, len(others), _BLOCK):
        block = others[start : start + _BLOCK]
        text = sentinel.join(chr(cp) for cp in block) + sentinel
        pieces = normalizer.normalize_str(text).split(sentinel)[:-1]
        if len(pieces) != len(block):
            raise AssertionError("the sentinel was affected by normalization")
        out.update(zip(block, pieces))
    return [out[cp] for cp in code_points]


def _punctuation(code_points: list[int], skip: set[int]) -> list[int]:
    """Code points BertPreTokenizer isolates: in 'a c1 a c2 a' (no spaces) they come out alone."""
    from tokenizers.pre_tokenizers import BertPreTokenizer

    pre = BertPreTokenizer()
    found = []
    candidates = [cp for cp in code_points if cp not in skip]
    for start in range(0, len(candidates), _BLOCK):
        block = candidates[start : start + _BLOCK]
        text = "a" + "".join(chr(cp) + "a" for cp in block)
        for piece, (begin, end) in pre.pre_tokenize_str(text):
            if end - begin == 1 and begin % 2 == 1:
                found.append(block[begin // 2])
    return found


def measure() -> dict:
    """Measures the five classes from the installed ``tokenizers`` (about 3 s)."""
    import tokenizers
    from tokenizers.normalizers import BertNormalizer

    cps = _code_points()

    def only(**flags):
        base = dict(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=False)
        return BertNormalizer(**{**base, **flags})

    clean = _segments(only(clean_text=True), cps, _SENTINELS["clean"])
    strip = _segments(only(strip_accents=True), cps, _SENTINELS["strip"])
    chinese = _segments(only(handle_chinese_chars=True), cps, _SENTINELS["chinese"])
    removed = [cp for cp, out in zip(cps, clean) if out == ""]
    whitespace = [cp for cp, out in zip(cps, clean) if out == " " and cp != 0x20]
    marks = [cp for cp, out in zip(cps, strip) if out == ""]
    cjk = [cp for cp, out in zip(cps, chinese) if out == f" {chr(cp)} "]
    punctuation = _punctuation(cps, set(removed) | set(whitespace) | {0x20})
    return {
        "tokenizers_version": tokenizers.__version__,
        "classes": {
            "removed": _ranges(removed),
            "whitespace": _ranges(whitespace),
            "nonspacing_marks": _ranges(marks),
            "punctuation": _ranges(punctuation),
            "chinese": _ranges(cjk),
        },
    }


def _ranges(code_points: list[int]) -> list[list[int]]:
    ranges: list[list[int]] = []
    for cp in sorted(code_points):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return ranges


def load() -> dict:
    data = json.loads(TABLES_FILE.read_text(encoding="utf-8"))
    missing = [name for name in CLASSES if name not in data.get("classes", {})]
    if missing:
        raise ValueError(f"{TABLES_FILE} lacks the classes {missing}")
    return data


def range_lines(ranges: list[list[int]], per_line: int = 4) -> list[str]:
    """Flat ``first, last`` pairs as source lines (Kotlin and Swift array literals), each ending in a comma."""
    pairs = [f"0x{first:04X}, 0x{last:04X}," for first, last in ranges]
    return [" ".join(pairs[i : i + per_line]) for i in range(0, len(pairs), per_line)]


def dump(data: dict) -> str:
    lines = ["{", f'  "tokenizers_version": {json.dumps(data["tokenizers_version"])},', '  "classes": {']
    for i, name in enumerate(CLASSES):
        ranges = ", ".join(f"[{a}, {b}]" for a, b in data["classes"][name])
        lines.append(f'    "{name}": [{ranges}]' + ("," if i < len(CLASSES) - 1 else ""))
    lines += ["  }", "}", ""]
    return "\n".join(lines)


# The Kotlin and Swift tables are real source files (compiled, linted and copied into the SDKs as
# they are), generated from the JSON above: one source for both languages.
SOURCES = {
    "BertUnicode.kt.j2": (TEMPLATES_ROOT / "android" / "kotlin" / "BertUnicode.kt", lambda name: name.upper()),
    "BertUnicode.swift.j2": (TEMPLATES_ROOT / "ios" / "package" / "Sources" / "BertUnicode.swift",
                             lambda name: {"nonspacing_marks": "nonspacingMarks"}.get(name, name)),
}


def render_sources(data: dict) -> dict[Path, str]:
    """The Kotlin and Swift table files for ``data`` (what ``load()`` returns)."""
    from mobilekit.templating import environment

    env = environment("unicode", autoescape=False)
    rendered = {}
    for template, (target, spell) in SOURCES.items():
        tables = [(spell(name), range_lines(data["classes"][name])) for name in CLASSES]
        rendered[target] = env.get_template(template).render(unicode=data, unicode_tables=tables)
    return rendered


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else TABLES_FILE
    target.write_text(dump(measure()), encoding="utf-8")
    print(f"wrote {target}")
    if target == TABLES_FILE:
        for path, text in render_sources(load()).items():
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")

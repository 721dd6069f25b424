"""The data of a byte-level BPE tokenizer (GPT-2 / SmolLM2 / Qwen / Llama-3 style), read from the
model folder's ``tokenizer.json`` and written as the binary asset that both SDK tokenizers load:
``templates/android/llm/ByteLevelBpeTokenizer.kt`` and ``templates/ios/llm/ByteLevelBPETokenizer.swift``.

Those two files are static source: everything model-specific (vocabulary, merges, added tokens,
which pre-tokenizer regex, and the Unicode character classes that regex uses) is in the asset.

Supported shapes (anything else is a ``ModelInputError`` that names the unsupported part):

* model ``BPE`` without dropout or subword prefix/suffix, ``ignore_merges`` either way; bytes whose
  byte-level character is not in the vocabulary are dropped, as tokenizers does (unsupported with
  an ``unk_token`` or ``byte_fallback``, which would turn them into other tokens);
* normalizer none or ``NFC``;
* pre-tokenizer ``ByteLevel`` (GPT-2 regex or not, ``add_prefix_space`` either way), alone or last
  in a ``Sequence`` after ``Split`` (the GPT-2, Llama-3 or Qwen2 regex, ``Isolated``) and ``Digits``
  steps: GPT-2, SmolLM2 (its original ``Digits`` + ``ByteLevel`` and its GGUF conversion), Qwen2/2.5/3,
  Llama-3;
* decoder ``ByteLevel``; post-processor none, ``ByteLevel``, ``TemplateProcessing``, ``RobertaProcessing``
  or ``BertProcessing`` (their special tokens become the ids ``encode(text, addSpecialTokens=true)``
  puts around the text);
* added tokens with their ``special``/``normalized``/``lstrip``/``rstrip``/``single_word`` options.

Character classes are *measured* from the installed ``tokenizers``, code point by code point, not
taken from Python's ``unicodedata``: ``tokenizers`` matches ``\\p{L}``/``\\p{N}`` with Oniguruma's
tables (Unicode 16 in tokenizers 0.23) while Python 3.11 knows Unicode 14, and they differ on
~9,400 code points; the phone's own tables differ again by OS version. See ``measure_classes``.
Likewise NFC: ``tokenizers`` normalizes with Unicode 9 data (98 combining marks added since are
starters to it) while Android's and Apple's normalizers follow their OS's Unicode, so the SDKs
normalize by hand from tables shipped in the asset, checked against ``tokenizers`` (``nfc_tables``).

Asset format (``ASSET_NAME``; every integer a little-endian u32, so both readers stay trivial)::

    magic "MKBPE001"
    flags                    bit 0: NFC normalizer, bit 1: ignore_merges
    n, steps[n]              pre-tokenizer steps in order (STEP_*); byte-level mapping is implied last
    n, (start, bits)[n]      Unicode class runs: code points start..next start-1 have these CLASS_* bits
    n, (code point, letter)[n]   case-insensitive letters of the (?i:'s|'t|...) contractions
    byte ids[256]            id each byte starts as (0xFFFFFFFF: none, the byte is dropped as tokenizers does)
    n, (left, right, merged)[n]  merges by rank (rank = index)
    n, (id, flags, length, bytes)[n]   tokens: TOKEN_* flags; bytes = what decoding the id yields
    n, (id, flags, length, utf8)[n]    added tokens in id order: ADDED_* flags; utf8 = the text matched
    n, ids[n]                ids encode(addSpecialTokens = true) puts before the text
    n, ids[n]                ... and after it
    n, (code point, class)[n]        NFC: canonical combining classes that are not 0
    n, u32[n]                        NFC: (code point, length, code points...) full canonical decompositions
    n, (first, second, composite)[n] NFC: primary compositions (Hangul is algorithmic on the device)
"""

from __future__ import annotations

import functools
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mobilekit.errors import ModelInputError

ASSET_NAME = "tokenizer.mkbpe"
MAGIC = b"MKBPE001"
NO_ID = 0xFFFFFFFF

# Pre-tokenizer steps, applied in order to each piece of text between added tokens.
STEP_PREFIX_SPACE = 1  # ByteLevel(add_prefix_space): a space before a piece that lacks one
STEP_DIGITS_ISOLATED = 2  # Digits(individual_digits=True): each numeric character alone
STEP_DIGITS_CONTIGUOUS = 3  # Digits(individual_digits=False): runs of numeric characters
STEP_REGEX_GPT2 = 4
STEP_REGEX_LLAMA3 = 5
STEP_REGEX_QWEN2 = 6

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3_PATTERN = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"""
                  r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")
QWEN2_PATTERN = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"""
                 r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")
REGEX_STEPS = {GPT2_PATTERN: STEP_REGEX_GPT2, LLAMA3_PATTERN: STEP_REGEX_LLAMA3, QWEN2_PATTERN: STEP_REGEX_QWEN2}
REGEX_NAMES = {STEP_REGEX_GPT2: "gpt2", STEP_REGEX_LLAMA3: "llama3", STEP_REGEX_QWEN2: "qwen2"}

# Character classes, as bits of the run table.
CLASS_LETTER = 1  # \p{L} of Oniguruma (the pre-tokenizer regexes)
CLASS_NUMBER = 2  # \p{N} of Oniguruma
CLASS_SPACE = 4  # \s of Oniguruma
CLASS_NUMERIC = 8  # Rust char::is_numeric (the Digits pre-tokenizer)
CLASS_WORD = 16  # \w of Rust's regex crate (single_word added tokens)
CLASS_STRIP = 32  # \s of Rust's regex crate (lstrip/rstrip added tokens)
ALL_CLASSES = CLASS_LETTER | CLASS_NUMBER | CLASS_SPACE | CLASS_NUMERIC | CLASS_WORD | CLASS_STRIP
CONTRACTION_LETTERS = "stremvld"  # the letters of 's 't 're 've 'm 'll 'd

FLAG_NFC = 1
FLAG_IGNORE_MERGES = 2
TOKEN_SPECIAL = 1  # skipped by decode(skipSpecialTokens = true)
TOKEN_ENCODES = 2  # a model vocabulary entry made of byte-level characters: bytes -> id (ignore_merges)
TOKEN_DECODES = 4  # what decoding the id yields
ADDED_SPECIAL = 1
ADDED_NORMALIZED = 2
ADDED_LSTRIP = 4
ADDED_RSTRIP = 8
ADDED_SINGLE_WORD = 16

_HINT = ("mobilekit's SDK tokenizer supports byte-level BPE (GPT-2, SmolLM2, Qwen2/3, Llama-3 shapes); "
         "see mobilekit/sdk/bpe_data.py for the exact list")


@dataclass(frozen=True)
class AddedToken:
    content: str
    id: int
    special: bool = False
    normalized: bool = False
    lstrip: bool = False
    rstrip: bool = False
    single_word: bool = False
    pattern: str = ""  # what is matched: content, or content normalized for a normalized token

    @property
    def flags(self) -> int:
        bits = ((self.special, ADDED_SPECIAL), (self.normalized, ADDED_NORMALIZED), (self.lstrip, ADDED_LSTRIP),
                (self.rstrip, ADDED_RSTRIP), (self.single_word, ADDED_SINGLE_WORD))
        return sum(bit for on, bit in bits if on)


@dataclass(frozen=True)
class BpeTokenizer:
    """A validated byte-level BPE tokenizer.json, in the terms the SDK tokenizers use."""

    vocab: dict[str, int]
    merges: list[tuple[str, str]]  # effective merges, by rank
    added_tokens: list[AddedToken]
    steps: tuple[int, ...]
    nfc: bool
    ignore_merges: bool
    byte_ids: tuple[int | None, ...]  # per byte: the id it starts as, None when dropped
    prefix_ids: list[int] = field(default_factory=list)
    suffix_ids: list[int] = field(default_factory=list)

    @property
    def special_ids(self) -> list[int]:
        return [t.id for t in self.added_tokens if t.special]

    @property
    def regex(self) -> str | None:
        names = [REGEX_NAMES[s] for s in self.steps if s in REGEX_NAMES]
        return "+".join(names) or None

    def needed_classes(self) -> int:
        """The class bits the device needs: only what the steps and added tokens consult."""
        bits = 0
        if self.regex:
            bits |= CLASS_LETTER | CLASS_NUMBER | CLASS_SPACE
        if {STEP_DIGITS_ISOLATED, STEP_DIGITS_CONTIGUOUS} & set(self.steps):
            bits |= CLASS_NUMERIC
        if any(t.single_word for t in self.added_tokens):
            bits |= CLASS_WORD
        if any(t.lstrip or t.rstrip for t in self.added_tokens):
            bits |= CLASS_STRIP
        return bits

    def needs_folds(self) -> bool:
        return bool({STEP_REGEX_LLAMA3, STEP_REGEX_QWEN2} & set(self.steps))


# -- reading tokenizer.json -------------------------------------------------------------------------


def read_bpe_tokenizer(path: Path) -> BpeTokenizer:
    """Reads and validates ``tokenizer.json`` (or the model folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / "tokenizer.json"
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelInputError(f"{path}: unreadable tokenizer.json: {e}",
                              hint="a byte-level BPE model folder needs the tokenizer.json that save_pretrained writes") from e
    model = spec.get("model") or {}
    vocab, merges, ignore_merges = _model(model, path)
    # A byte whose character is not in the vocabulary is dropped, as tokenizers' BPE drops a character
    # it has no id for (SmolLM2 lacks 21 of them, among them the UTF-8 lead bytes F1 and F2).
    byte_ids = tuple(vocab.get(BYTE_CHARS[b]) for b in range(256))
    nfc = _normalizer(spec.get("normalizer"), path)
    steps = _pre_tokenizer(spec.get("pre_tokenizer"), path)
    _decoder(spec.get("decoder"), path)
    added = _added_tokens(spec.get("added_tokens") or [], path, spec)
    prefix, suffix = _post_processor(spec.get("post_processor"), path)
    return BpeTokenizer(vocab, merges, added, tuple(steps), nfc, ignore_merges, byte_ids, prefix, suffix)


def _unsupported(path: Path, what: str) -> ModelInputError:
    return ModelInputError(f"{path}: unsupported tokenizer: {what}", hint=_HINT)


def _model(model: dict, path: Path) -> tuple[dict[str, int], list[tuple[str, str]], bool]:
    if model.get("type") != "BPE":
        raise _unsupported(path, f"model type {model.get('type')!r} (only byte-level 'BPE')")
    if model.get("dropout") not in (None, 0, 0.0):
        raise _unsupported(path, f"BPE dropout {model['dropout']} (encoding would be random)")
    for key in ("continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(key):
            raise _unsupported(path, f"BPE {key} {model[key]!r}")
    vocab = model.get("vocab")
    if not isinstance(vocab, dict) or not vocab:
        raise _unsupported(path, "BPE model without a vocab")
    vocab = {str(k): int(v) for k, v in vocab.items()}
    if sum(BYTE_CHARS[b] in vocab for b in range(256)) < 128:
        raise _unsupported(path, "a BPE vocabulary without the byte-level alphabet (SentencePiece-style BPE?)")
    missing = [b for b in _UTF8_BYTES if BYTE_CHARS[b] not in vocab]
    for option in ("unk_token", "byte_fallback"):
        if missing and model.get(option):
            # tokenizers would emit unknown or <0xNN> tokens for these bytes: not implemented on the device.
            raise _unsupported(path, f"{option} {model[option]!r} with bytes {missing[:8]} outside the vocabulary")
    return vocab, _effective_merges(model.get("merges") or [], vocab, path), bool(model.get("ignore_merges", False))


def _effective_merges(raw: list, vocab: dict[str, int], path: Path) -> list[tuple[str, str]]:
    """Merges by rank; a pair listed twice keeps its last rank, as tokenizers' HashMap does."""
    ranks: dict[tuple[str, str], int] = {}
    for rank, merge in enumerate(raw):
        pair = tuple(merge.split(" ")) if isinstance(merge, str) else tuple(merge)
        if len(pair) != 2:
            raise _unsupported(path, f"merge #{rank} {merge!r} is not a pair")
        if pair[0] not in vocab or pair[1] not in vocab or pair[0] + pair[1] not in vocab:
            raise ModelInputError(f"{path}: merge #{rank} {merge!r} uses a token that is not in the vocabulary",
                                  hint="the tokenizer.json is inconsistent; re-save it with save_pretrained")
        ranks.pop(pair, None)
        ranks[pair] = rank
    return list(ranks)  # dicts keep insertion order: re-inserted pairs moved to their last rank


def _normalizer(normalizer: Any, path: Path) -> bool:
    """True for NFC; none is False. Sequences of only NFC are NFC."""
    if normalizer is None:
        return False
    kind = normalizer.get("type")
    if kind == "NFC":
        return True
    if kind == "Sequence":
        inner = [_normalizer(n, path) for n in normalizer.get("normalizers") or []]
        if len(inner) <= 1:
            return any(inner)
    raise _unsupported(path, f"normalizer {json.dumps(normalizer)[:200]} (only none or NFC)")


def _flatten(pre: dict) -> list[dict]:
    if pre.get("type") == "Sequence":
        return [p for inner in pre.get("pretokenizers") or [] for p in _flatten(inner)]
    return [pre]


def _pre_tokenizer(pre: Any, path: Path) -> list[int]:
    if pre is None:
        raise _unsupported(path, "no pre_tokenizer (byte-level BPE needs ByteLevel)")
    flat = _flatten(pre)
    if not flat or flat[-1].get("type") != "ByteLevel" or any(p.get("type") == "ByteLevel" for p in flat[:-1]):
        raise _unsupported(path, f"pre_tokenizer {json.dumps(pre)[:300]} (ByteLevel must come last, once)")
    steps = [_pre_step(p, path) for p in flat[:-1]]
    byte_level = flat[-1]
    if byte_level.get("add_prefix_space", False):
        steps.append(STEP_PREFIX_SPACE)
    if byte_level.get("use_regex", True):
        steps.append(STEP_REGEX_GPT2)
    return steps


def _pre_step(pre: dict, path: Path) -> int:
    kind = pre.get("type")
    if kind == "Digits":
        return STEP_DIGITS_ISOLATED if pre.get("individual_digits", False) else STEP_DIGITS_CONTIGUOUS
    if kind != "Split":
        raise _unsupported(path, f"pre-tokenizer {kind!r} (supported: ByteLevel, Split with a known regex, Digits)")
    pattern = (pre.get("pattern") or {}).get("Regex")
    if pattern not in REGEX_STEPS:
        raise _unsupported(path, f"Split pattern {json.dumps(pre.get('pattern'))[:300]} "
                                 "(supported: the GPT-2, Llama-3 and Qwen2 regexes)")
    if pre.get("behavior") != "Isolated" or pre.get("invert", False):
        raise _unsupported(path, f"Split behavior {pre.get('behavior')!r}, invert {pre.get('invert')!r} "
                                 "(only Isolated, not inverted)")
    return REGEX_STEPS[pattern]


def _decoder(decoder: Any, path: Path) -> None:
    if not decoder or decoder.get("type") != "ByteLevel":
        raise _unsupported(path, f"decoder {json.dumps(decoder)[:200]} (only ByteLevel)")


def _added_tokens(entries: list, path: Path, spec: dict) -> list[AddedToken]:
    """Added tokens in id order (a content listed twice keeps its first id)."""
    normalize = _normalizer_function(spec) if any(e.get("normalized") for e in entries) else None
    tokens, seen = [], set()
    for entry in sorted(entries, key=lambda e: int(e.get("id", -1))):
        content, token_id = entry.get("content"), entry.get("id")
        if not isinstance(content, str) or not content or content in seen:
            continue
        if not isinstance(token_id, int) or not 0 <= token_id < NO_ID:
            raise ModelInputError(f"{path}: the added token {content!r} has no usable id ({token_id!r})",
                                  hint="check added_tokens in tokenizer.json")
        seen.add(content)
        normalized = bool(entry.get("normalized", not entry.get("special", False)))
        pattern = normalize(content) if normalized and normalize else content
        tokens.append(AddedToken(content, token_id, bool(entry.get("special", False)), normalized,
                                 bool(entry.get("lstrip")), bool(entry.get("rstrip")), bool(entry.get("single_word")),
                                 pattern))
    return tokens


def _normalizer_function(spec: dict):
    """The model's own normalizer, as tokenizers applies it to normalized added tokens."""
    from tokenizers import Tokenizer

    if spec.get("normalizer") is None:
        return None
    normalizer = Tokenizer.from_str(json.dumps(spec)).normalizer
    return normalizer.normalize_str


def _post_processor(post: Any, path: Path) -> tuple[list[int], list[int]]:
    """The ids added around a single text when special tokens are added (transformers' default)."""
    if post is None or post.get("type") == "ByteLevel":
        return [], []
    kind = post.get("type")
    if kind == "Sequence":
        found = [_post_processor(p, path) for p in post.get("processors") or []]
        found = [f for f in found if f != ([], [])]
        if len(found) > 1:
            raise _unsupported(path, "post_processor Sequence with several processors that add tokens")
        return found[0] if found else ([], [])
    if kind in ("RobertaProcessing", "BertProcessing"):
        return [int(post["cls"][1])], [int(post["sep"][1])]
    if kind == "TemplateProcessing":
        return _template_ids(post, path)
    raise _unsupported(path, f"post_processor {kind!r}")


def _template_ids(post: dict, path: Path) -> tuple[list[int], list[int]]:
    before: list[int] = []
    after: list[int] = []
    seen_text = False
    for item in post.get("single") or []:
        if "Sequence" in item:
            if item["Sequence"].get("id") != "A" or seen_text:
                raise _unsupported(path, "TemplateProcessing single template without exactly one $A")
            seen_text = True
        elif "SpecialToken" in item:
            name = item["SpecialToken"]["id"]
            ids = (post.get("special_tokens") or {}).get(name, {}).get("ids")
            if not ids:
                raise _unsupported(path, f"TemplateProcessing special token {name!r} without ids")
            (after if seen_text else before).extend(int(i) for i in ids)
    if not seen_text:
        raise _unsupported(path, "TemplateProcessing single template without $A")
    return before, after


# -- byte-level characters ----------------------------------------------------------------------------


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (tokenizers' BYTES_CHAR)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


BYTE_CHARS = _bytes_to_unicode()
CHAR_BYTES = {c: b for b, c in BYTE_CHARS.items()}
# Bytes that can occur in UTF-8 text (C0, C1 and F5..FF never do): the vocabulary must hold these.
_UTF8_BYTES = [b for b in range(256) if not (b in (0xC0, 0xC1) or b >= 0xF5)]


def token_bytes(token: str) -> bytes:
    """What tokenizers' ByteLevel decoder makes of a token: its bytes, or its UTF-8 when not byte-level."""
    if all(c in CHAR_BYTES for c in token):
        return bytes(CHAR_BYTES[c] for c in token)
    return token.encode("utf-8")


# -- Unicode classes, measured from tokenizers ----------------------------------------------------------

_PLANES = 0x110000
_BLOCK = 1 << 15


def _scalars() -> list[int]:
    return [cp for cp in range(_PLANES) if not 0xD800 <= cp <= 0xDFFF]


@functools.lru_cache(maxsize=None)
def _matched_by(pattern: str) -> frozenset[int]:
    """The code points the Oniguruma regex ``pattern`` (one character) matches, as tokenizers runs it."""
    from tokenizers import Regex
    from tokenizers.pre_tokenizers import Split

    split = Split(Regex(pattern), behavior="removed")
    cps, kept = _scalars(), set()
    for start in range(0, len(cps), _BLOCK):
        block = cps[start:start + _BLOCK]
        text = "".join(map(chr, block))
        for _piece, (a, b) in split.pre_tokenize_str(text):
            kept.update(block[a:b])
    return frozenset(cp for cp in cps if cp not in kept)


@functools.lru_cache(maxsize=None)
def _numeric() -> frozenset[int]:
    """Rust's char::is_numeric, as the Digits pre-tokenizer applies it: 'a c a' isolates c when numeric."""
    from tokenizers.pre_tokenizers import Digits

    digits, cps, found = Digits(individual_digits=True), _scalars(), set()
    for start in range(0, len(cps), _BLOCK):
        block = cps[start:start + _BLOCK]
        text = "a" + "".join(chr(cp) + "a" for cp in block)
        found.update(block[a // 2] for _p, (a, b) in digits.pre_tokenize_str(text) if b - a == 1 and a % 2 == 1)
    return frozenset(found)


def _added_token_probe(text_of, **flags) -> list[tuple[list[int], list]]:
    """Encodes probe texts with one added token '<w>' (given options), 512 code points a text:
    yields (code points, offsets of the token's matches) per text."""
    from tokenizers import AddedToken as HfAddedToken
    from tokenizers import Tokenizer, models

    probe = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    probe.add_tokens([HfAddedToken("<w>", **flags)])
    token_id, cps = probe.token_to_id("<w>"), _scalars()
    blocks = [cps[start:start + 512] for start in range(0, len(cps), 512)]
    encodings = probe.encode_batch(["".join(text_of(chr(cp)) for cp in block) for block in blocks],
                                   add_special_tokens=False)
    return [(block, [o for i, o in zip(e.ids, e.offsets) if i == token_id]) for block, e in zip(blocks, encodings)]


@functools.lru_cache(maxsize=None)
def _word() -> frozenset[int]:
    """Rust regex \\w as single_word tokens see it: in 'c<w> ', <w> is kept only when c is not \\w."""
    found = set()
    for block, matches in _added_token_probe(lambda c: c + "<w> ", single_word=True):
        kept = {a // 5 for a, _b in matches}
        found.update(cp for k, cp in enumerate(block) if k not in kept)
    return frozenset(found)


@functools.lru_cache(maxsize=None)
def _strip() -> frozenset[int]:
    """Rust regex \\s as rstrip tokens see it: in '<w>cx', the token's span takes c along when c is \\s."""
    found = set()
    for block, matches in _added_token_probe(lambda c: "<w>" + c + "x", rstrip=True):
        found.update(block[a // 5] for a, b in matches if b - a == 4)
    return frozenset(found)


_MEASURES = {
    CLASS_LETTER: lambda: _matched_by(r"\p{L}"),
    CLASS_NUMBER: lambda: _matched_by(r"\p{N}"),
    CLASS_SPACE: lambda: _matched_by(r"\s"),
    CLASS_NUMERIC: _numeric,
    CLASS_WORD: _word,
    CLASS_STRIP: _strip,
}


def measure_classes(bits: int) -> list[tuple[int, int]]:
    """Runs (start, class bits) over all code points for the requested classes (about 1-6 s, cached)."""
    table = bytearray(_PLANES)
    for bit, measure in _MEASURES.items():
        if bits & bit:
            for cp in measure():
                table[cp] |= bit
    runs: list[tuple[int, int]] = []
    for cp, value in enumerate(table):
        if not runs or runs[-1][1] != value:
            runs.append((cp, value))
    return runs


@functools.lru_cache(maxsize=None)
def measure_folds() -> tuple[tuple[int, str], ...]:
    """Code points Oniguruma's (?i:x) matches for each contraction letter x (ASCII both cases, 'ſ'...)."""
    folds = []
    for letter in CONTRACTION_LETTERS:
        folds += [(cp, letter) for cp in _matched_by(f"(?i:{letter})")]
    return tuple(sorted(folds))


# -- NFC, as tokenizers implements it ---------------------------------------------------------------------

_HANGUL = range(0xAC00, 0xAC00 + 11172)  # composed and decomposed by arithmetic on the device
_SEPARATOR = "|"  # a starter that composes with nothing: separates probes normalized in one batch


class NfcMismatchError(RuntimeError):
    """The installed tokenizers' NFC does something the tables cannot describe (a newer Unicode?)."""


def _normalized_each(normalizer, probes: list[str]) -> list[str]:
    """normalizer.normalize_str(p) for each probe, in batches joined by the separator."""
    out = []
    for start in range(0, len(probes), _BLOCK):
        block = probes[start:start + _BLOCK]
        pieces = normalizer.normalize_str(_SEPARATOR.join(block) + _SEPARATOR).split(_SEPARATOR)[:-1]
        if len(pieces) != len(block):
            raise NfcMismatchError("the probe separator was affected by normalization")
        out += pieces
    return out


NfcTables = tuple[tuple[tuple[int, int], ...], tuple[tuple[int, tuple[int, ...]], ...], tuple[tuple[int, int, int], ...]]


@functools.lru_cache(maxsize=None)
def nfc_tables() -> NfcTables:
    """(combining classes, decompositions, compositions) of the NFC that tokenizers runs (a few s).

    Candidates come from Python's unicodedata (Unicode 14); each is kept only if tokenizers (Unicode 9
    data in 0.23) does it: a mark it reorders, a code point it decomposes, a pair it composes. Then
    ``nfc_model`` (the device algorithm, in Python) over these tables is checked against tokenizers'
    NFC on every code point alone, every mark after a mark of each class and after U+0345, and every
    composition pair; NfcMismatchError if anything differs.
    """
    import unicodedata

    from tokenizers.normalizers import NFC, NFD

    nfc = NFC()
    scalars = [cp for cp in _scalars() if chr(cp) != _SEPARATOR]
    marks = [cp for cp in scalars if unicodedata.combining(chr(cp))]
    known = set(_known_marks(nfc, marks))
    classes = tuple((cp, unicodedata.combining(chr(cp))) for cp in marks if cp in known)
    decompositions = tuple(_decompositions(NFD(), scalars))
    compositions = tuple(_compositions(nfc, scalars))
    tables = (classes, decompositions, compositions)
    references = {}
    for cp, ccc in classes:
        references.setdefault(ccc, cp)
    probes = [chr(cp) for cp in scalars]
    probes += [f"a{chr(r)}{chr(cp)}" for cp in marks for r in references.values()]
    probes += [f"a\u0345{chr(cp)}" for cp in scalars]
    probes += [chr(a) + chr(b) for a, b, _ in compositions]
    model = _NfcModel(tables)
    for probe, got in zip(probes, _normalized_each(nfc, probes)):
        if got != model.normalize(probe):
            raise NfcMismatchError(f"tokenizers' NFC of {[hex(ord(c)) for c in probe]} is "
                                   f"{[hex(ord(c)) for c in got]}, the tables give "
                                   f"{[hex(ord(c)) for c in model.normalize(probe)]}")
    return tables


def _known_marks(nfc, marks: list[int]) -> list[int]:
    """The marks tokenizers reorders: after U+0334 (class 1) for classes above 1, else before U+0301."""
    import unicodedata

    probes = [f"a{chr(cp)}\u0334" if unicodedata.combining(chr(cp)) > 1 else f"a\u0301{chr(cp)}" for cp in marks]
    return [cp for cp, probe, got in zip(marks, probes, _normalized_each(nfc, probes)) if got != probe]


def _decompositions(nfd, scalars: list[int]):
    """(code point, full canonical decomposition) for what tokenizers decomposes (Hangul aside)."""
    import unicodedata

    for cp, got in zip(scalars, _normalized_each(nfd, [chr(cp) for cp in scalars])):
        if got == chr(cp) or cp in _HANGUL:
            continue
        if got != unicodedata.normalize("NFD", chr(cp)):
            raise NfcMismatchError(f"tokenizers decomposes U+{cp:04X} unlike Unicode 14")
        yield cp, tuple(map(ord, got))


def _compositions(nfc, scalars: list[int]):
    """(first, second, composite) of each primary composite tokenizers composes: a two-character
    canonical decomposition that NFC composes back (not composition exclusions or singletons)."""
    import unicodedata

    candidates = []
    for cp in scalars:
        mapping = unicodedata.decomposition(chr(cp))
        if cp in _HANGUL or not mapping or mapping.startswith("<"):
            continue
        parts = [int(p, 16) for p in mapping.split()]
        if len(parts) == 2:
            candidates.append((parts[0], parts[1], cp))
    pairs = [chr(a) + chr(b) for a, b, _ in candidates]
    for (a, b, cp), got in zip(candidates, _normalized_each(nfc, pairs)):
        if got == chr(cp):
            yield a, b, cp


class _NfcModel:
    """The device's NFC (decompose, reorder by class, compose), over the tables: what gets checked."""

    def __init__(self, tables: NfcTables):
        classes, decompositions, compositions = tables
        self.classes = dict(classes)
        self.decompositions = dict(decompositions)
        self.compositions = {(a, b): c for a, b, c in compositions}

    def normalize(self, text: str) -> str:
        decomposed: list[int] = []
        for ch in text:
            decomposed += _hangul_decompose(ord(ch)) or self.decompositions.get(ord(ch), (ord(ch),))
        for i in range(1, len(decomposed)):  # stable insertion sort of each run of non-starters
            j = i
            while j > 0 and 0 < self.classes.get(decomposed[j], 0) < self.classes.get(decomposed[j - 1], 0):
                decomposed[j - 1], decomposed[j] = decomposed[j], decomposed[j - 1]
                j -= 1
        return "".join(map(chr, self._compose(decomposed)))

    def _compose(self, cps: list[int]) -> list[int]:
        out: list[int] = []
        starter, last_class = -1, 0
        for cp in cps:
            ccc = self.classes.get(cp, 0)
            if starter >= 0 and (last_class < ccc or last_class == 0 and len(out) - 1 == starter):
                composite = _hangul_compose(out[starter], cp) or self.compositions.get((out[starter], cp))
                if composite:
                    out[starter] = composite
                    continue
            if ccc == 0:
                starter = len(out)
            last_class = ccc
            out.append(cp)
        return out


def _hangul_decompose(cp: int) -> tuple[int, ...] | None:
    if cp not in _HANGUL:
        return None
    index = cp - 0xAC00
    lv = (0x1100 + index // 588, 0x1161 + index % 588 // 28)
    return lv + ((0x11A7 + index % 28,) if index % 28 else ())


def _hangul_compose(first: int, second: int) -> int | None:
    if 0x1100 <= first < 0x1113 and 0x1161 <= second < 0x1176:
        return 0xAC00 + ((first - 0x1100) * 21 + second - 0x1161) * 28
    if first in _HANGUL and (first - 0xAC00) % 28 == 0 and 0x11A8 <= second < 0x11C3:
        return first + second - 0x11A7
    return None


# -- the asset -------------------------------------------------------------------------------------------


def asset_bytes(tokenizer: BpeTokenizer) -> bytes:
    """The binary asset both SDK tokenizers load (format in the module docstring); deterministic."""
    out = bytearray(MAGIC)

    def u32(*values: int) -> None:
        out.extend(struct.pack(f"<{len(values)}I", *values))

    def blob(data: bytes) -> None:
        u32(len(data))
        out.extend(data)

    u32((FLAG_NFC if tokenizer.nfc else 0) | (FLAG_IGNORE_MERGES if tokenizer.ignore_merges else 0))
    u32(len(tokenizer.steps), *tokenizer.steps)
    runs = measure_classes(tokenizer.needed_classes())
    u32(len(runs), *(v for run in runs for v in run))
    folds = measure_folds() if tokenizer.needs_folds() else ()
    u32(len(folds), *(v for cp, letter in folds for v in (cp, ord(letter))))
    vocab = tokenizer.vocab
    byte_ids = [tokenizer.byte_ids[b] for b in range(256)]
    u32(*(NO_ID if i is None else i for i in byte_ids))
    u32(len(tokenizer.merges), *(v for a, b in tokenizer.merges for v in (vocab[a], vocab[b], vocab[a + b])))
    entries = token_entries(tokenizer)
    u32(len(entries))
    for token_id, flags, data in entries:
        u32(token_id, flags)
        blob(data)
    u32(len(tokenizer.added_tokens))
    for token in tokenizer.added_tokens:
        u32(token.id, token.flags)
        blob(token.pattern.encode("utf-8"))
    u32(len(tokenizer.prefix_ids), *tokenizer.prefix_ids)
    u32(len(tokenizer.suffix_ids), *tokenizer.suffix_ids)
    classes, decompositions, compositions = nfc_tables() if tokenizer.nfc else ((), (), ())
    u32(len(classes), *(v for pair in classes for v in pair))
    flat = [v for cp, parts in decompositions for v in (cp, len(parts), *parts)]
    u32(len(flat), *flat)
    u32(len(compositions), *(v for triple in compositions for v in triple))
    return bytes(out)


def token_entries(tokenizer: BpeTokenizer) -> list[tuple[int, int, bytes]]:
    """(id, TOKEN_* flags, bytes) by id: the decode table and the encode map (model vocabulary entries
    made of byte-level characters).

    As tokenizers' decode: an added token is decoded from its normalized form when it has one
    (``simple_id_to_token``), and a token is special when that string is a special token's content.
    """
    specials = {t.content for t in tokenizer.added_tokens if t.special}
    decoded = {token_id: token for token, token_id in tokenizer.vocab.items()}
    decoded.update({t.id: t.pattern for t in tokenizer.added_tokens})
    entries: dict[tuple[int, bytes], int] = {}
    for token_id, token in decoded.items():
        key = (token_id, token_bytes(token))
        entries[key] = entries.get(key, 0) | TOKEN_DECODES | (TOKEN_SPECIAL if token in specials else 0)
    for token, token_id in tokenizer.vocab.items():
        if all(c in CHAR_BYTES for c in token):
            key = (token_id, token_bytes(token))
            entries[key] = entries.get(key, 0) | TOKEN_ENCODES
    return sorted((token_id, flags, data) for (token_id, data), flags in entries.items())


def write_bpe_asset(model_dir: Path, out_path: Path) -> BpeTokenizer:
    """Validates the model folder's tokenizer.json and writes its asset to ``out_path``."""
    tokenizer = read_bpe_tokenizer(model_dir)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(asset_bytes(tokenizer))
    return tokenizer

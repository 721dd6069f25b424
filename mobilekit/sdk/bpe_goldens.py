"""Tokenizer goldens for the byte-level BPE SDK tokenizers (Kotlin and Swift), from the model's own
tokenizer (transformers ``AutoTokenizer`` on the model folder).

The corpus is built from a seed: hand-written texts for each hard case (emoji with ZWJ, skin tones,
flags and tags; CJK; combining marks; runs of spaces, tabs, CR LF, NBSP, U+3000; code; numbers;
contractions in every case; special tokens typed in the text), a string at each boundary of the
measured character classes, and ``random_count`` random strings whose characters come from all
Unicode planes (valid scalar values, no surrogates), mixed with ASCII structure so the regex
alternatives meet each other.

Files (UTF-8 text, one record a line, so the Kotlin and Swift readers need no JSON parser):

* corpus: ``mkbpe-corpus 1 <count>`` then one text a line as the hex of its UTF-8 (``-``: empty);
* goldens, one per tokenizer: ``mkbpe-goldens 1 <name> <corpus count> <decode count>``, then per corpus
  line ``E <ids> <ids with special tokens> <decode skipping specials> <decode keeping them>``, then
  ``D <ids> <decode skipping specials> <decode keeping them>`` for random id sequences (broken UTF-8,
  specials, unknown ids). Ids are comma-separated (``-``: none), texts hex UTF-8 (``-``: empty), and
  ``=`` means "same as the ids" / "same as the corpus text".
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Iterable, Sequence

CORPUS_HEADER = "mkbpe-corpus 1"
GOLDENS_HEADER = "mkbpe-goldens 1"
RANDOM_STRINGS = 10_000
DECODE_CASES = 3_000

EMOJI = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇯🇵", "❤️", "☺︎", "🫠", "🧑🏿‍🚀", "1️⃣", "#️⃣",
         "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "👩🏻‍❤️‍💋‍👨🏾", "🤌", "\u200d", "\ufe0f"]
SCRIPTS = ["東京", "你好", "한국어", "日本語", "𠀀", "𪜀", "ｆｕｌｌ", "Ελληνικά", "русский", "नमस्ते", "مرحبا",
           "สวัสดี", "שָׁלוֹם", "ſ", "\u212a", "ß", "İ", "ǅ", "ﬆ", "Ⅻ", "½", "²", "٣", "१२", "①", "𝟙"]
MARKS = ["\u0301", "\u0300\u0301\u0302", "e\u0301", "A\u030a", "n\u0303", "\u1112\u1161\u11ab", "\u0e31",
         "\u094d", "\u20dd", "Z\u0338\u0322"]
SPACES = [" ", "  ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2028", "\u2029", "\u0085", "\u000b",
          "\u000c", "\u1680", "\u2003", "\u202f", "\u205f", " \n", "\n\n", "    "]
FRAGMENTS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'RE", "'Ll", "'ſ", "'", "''",
             "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im", "_start|>", "|>", "<", ">",
             "def ", "return ", "()", "{}", "[]", "=>", "->", "==", "// ", "#", "0x", "3.14", "1,000", "\\n"]
ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?'\"-_()[]{}<>/\\|@#$%^&*+=~`"

FIXED_TEXTS: tuple[str, ...] = (
    "", " ", "  ", "a", "hello world", "Hello, World! How ARE you?",
    # contractions, in every case (GPT-2 matches them case-sensitively, Llama-3/Qwen2 not)
    "it's I'm we're they've he'll she'd don't", "IT'S I'M WE'RE THEY'VE HE'LL SHE'D",
    "'s't're've'm'll'd", "'S'T'RE'VE'M'LL'D", "'ſ 'Re 'rE 'lL 'Ll x'sup ''s", "'", "a'", "'\u212a",
    # white space runs
    "a  b", "a   b", "a\tb", "a \t b", "line1\nline2", "a\r\nb", "a\n\n\nb", "  leading", "trailing  ",
    "\n", "\r\n\r\n", " \n ", "a \n b", "\u00a0nbsp\u00a0", "ideographic\u3000space", "\u2028\u2029",
    "\u0085next", "\t\t\tindent", "x" + " " * 20 + "y", " " * 50, "a\u00a0 \u3000b", "end\n",
    # numbers
    "123", "1234567", "3.14159", "1,000,000", "٣٤٥ ١٢", "①②③", "Ⅻ", "½ ¾", "x²", "１２３", "0x1F",
    "v1.2.3-beta", "12ab34", "2024-01-01T12:00:00Z",
    # code
    "def add(a, b):\n    return a + b\n", "for (int i = 0; i < n; i++) {\n\tx[i] = 0;\n}",
    "<div class=\"x\">&amp;</div>", "SELECT * FROM t WHERE a='b';", "#include <stdio.h>", "λx. x + 1",
    "a->b && c || !d", "```python\nprint('hi')\n```", "    indented\n        more\n",
    # emoji: ZWJ sequences, skin tones, flags, keycaps, tag sequences
    "😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷🇯🇵", "❤️", "☺︎", "🫠", "🧑🏿‍🚀", "1️⃣", "#️⃣",
    "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "I love it 😀👍 so much", "😀😀😀", " 😀", "a😀b",
    # CJK and other scripts
    "東京は日本の首都です。", "你好，世界！", "한국어 텍스트", "日本語とEnglishの混在", "𠀀𪜀", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ",
    "नमस्ते दुनिया", "مرحبا بالعالم", "สวัสดีครับ", "Ελληνικά και русский текст",
    # combining marks (NFC-sensitive pairs)
    "e\u0301cole", "café", "cafe\u0301", "naïve", "Å", "A\u030a", "\u0301start", "a\u0300\u0301\u0302",
    "\u1112\u1161\u11ab", "ñ n\u0303", "שָׁלוֹם", "Z\u0338\u0322a\u0335l\u0336g\u0337o\u0334",
    # special tokens typed in the text
    "<|im_start|>user\nhi<|im_end|>\n", "<|im_start|><|im_end|>", "<|endoftext|>", "x<|im_start|>y",
    "<|im_start", "|im_start|>", "<|IM_START|>", "<<|im_start|>>", " <|im_end|> ", "<|im_start|>assistant\n",
    "<|endoftext|><|endoftext|>", "<repo_name>x", "a<file_sep>b",
    # odd characters
    "\x00\x01\x7f", "\ufeffbom", "\ufffd", "\U0010ffff", "\ue000", "\U000f0000", "\U00040000\U000bffff",
    "A" * 300, "ab" * 200, "the the the", "\u0890\U00013430",
)


def build_corpus(seed: int = 0, *, random_count: int = RANDOM_STRINGS, extra_texts: Iterable[str] = ()) -> list[str]:
    """The fixed texts, the extra ones, class-boundary strings, then ``random_count`` random strings."""
    rng = random.Random(seed)
    texts = list(dict.fromkeys([*FIXED_TEXTS, *extra_texts]))
    texts += _boundary_texts(rng)
    texts += [_random_text(rng) for _ in range(random_count)]
    return texts


def _boundary_texts(rng: random.Random) -> list[str]:
    """Each first and last code point of every run of the measured classes, in small contexts."""
    from mobilekit.sdk import bpe_data

    # (the \w and strip classes only matter next to rare added tokens: not worth their measuring time)
    runs = bpe_data.measure_classes(bpe_data.CLASS_LETTER | bpe_data.CLASS_NUMBER | bpe_data.CLASS_SPACE
                                    | bpe_data.CLASS_NUMERIC)
    cps = sorted({cp for start, _ in runs for cp in (start - 1, start) if cp >= 0 and not 0xD800 <= cp <= 0xDFFF})
    contexts = [" ", "", "a", "1", "'", "\n", "  "]
    texts = []
    for i in range(0, len(cps), 5):
        texts.append("".join(chr(cp) + rng.choice(contexts) for cp in cps[i:i + 5]))
    return texts


def _random_scalar(rng: random.Random, low: int, high: int) -> str:
    while True:
        cp = rng.randint(low, high)
        if not 0xD800 <= cp <= 0xDFFF:
            return chr(cp)


def _random_text(rng: random.Random) -> str:
    """1-24 pieces, each from a mixture: ASCII structure, all planes, the BMP, planes 1-2, hard cases."""
    pieces = []
    for _ in range(rng.randint(1, 24)):
        roll = rng.random()
        if roll < 0.25:
            pieces.append(rng.choice(ASCII))
        elif roll < 0.40:
            pieces.append(_random_scalar(rng, 0, 0x10FFFF))
        elif roll < 0.52:
            pieces.append(_random_scalar(rng, 0x80, 0xFFFF))
        elif roll < 0.60:
            pieces.append(_random_scalar(rng, 0x10000, 0x2FFFF))
        elif roll < 0.72:
            pieces.append(rng.choice(SPACES))
        elif roll < 0.82:
            pieces.append(rng.choice(FRAGMENTS))
        else:
            pieces.append(rng.choice(rng.choice((EMOJI, SCRIPTS, MARKS))))
    return "".join(pieces)


# -- goldens ------------------------------------------------------------------------------------------


def _hex(text: str) -> str:
    return text.encode("utf-8").hex() or "-"


def _ids(ids: Sequence[int]) -> str:
    return ",".join(map(str, ids)) or "-"


def corpus_file_text(corpus: Sequence[str]) -> str:
    return "\n".join([f"{CORPUS_HEADER} {len(corpus)}", *(_hex(t) for t in corpus)]) + "\n"


def goldens_file_text(model_dir: Path, corpus: Sequence[str], *, name: str, seed: int = 0,
                      decode_cases: int = DECODE_CASES) -> str:
    """Encode and decode goldens of the model folder's own tokenizer on ``corpus``."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    plain = tokenizer(list(corpus), add_special_tokens=False)["input_ids"]
    with_specials = tokenizer(list(corpus))["input_ids"]
    skip = tokenizer.batch_decode(plain, skip_special_tokens=True)
    keep = tokenizer.batch_decode(plain, skip_special_tokens=False)
    lines = []
    for text, ids, full, skipped, kept in zip(corpus, plain, with_specials, skip, keep):
        lines.append(" ".join(["E", _ids(ids), "=" if full == ids else _ids(full),
                               "=" if skipped == text else _hex(skipped), "=" if kept == text else _hex(kept)]))
    sequences = _decode_sequences(tokenizer, plain, random.Random(seed + 1), decode_cases)
    skip = tokenizer.batch_decode(sequences, skip_special_tokens=True)
    keep = tokenizer.batch_decode(sequences, skip_special_tokens=False)
    lines += [f"D {_ids(ids)} {_hex(s)} {_hex(k)}" for ids, s, k in zip(sequences, skip, keep)]
    header = f"{GOLDENS_HEADER} {name} {len(corpus)} {len(sequences)}"
    return "\n".join([header, *lines]) + "\n"


def _decode_sequences(tokenizer, encodings: list[list[int]], rng: random.Random, count: int) -> list[list[int]]:
    """Id sequences that make decoding work: random ids (unknown ones too), lone bytes of multi-byte
    characters next to special tokens, and encodings cut in the middle of a character."""
    size = max(tokenizer.get_vocab().values()) + 1
    specials = sorted(tokenizer.all_special_ids) or [0]
    byte_ids = [i for t, i in tokenizer.get_vocab().items() if len(t) == 1 and ord(t) >= 0xA1]
    long_ones = [ids for ids in encodings if len(ids) > 2]
    out = []
    for k in range(count):
        length = rng.randint(1, 16)
        kind = k % 3
        if kind == 0:
            out.append([rng.randrange(size + 3) for _ in range(length)])
        elif kind == 1:
            pool = byte_ids + specials + [rng.randrange(size)]
            out.append([rng.choice(pool) for _ in range(length)])
        else:
            ids = rng.choice(long_ones)
            start = rng.randrange(len(ids))
            out.append(ids[start:start + length])
    return out


def write_corpus(corpus: Sequence[str], path: Path) -> Path:
    path = Path(path)
    path.write_text(corpus_file_text(corpus), encoding="utf-8")
    return path


def write_goldens(model_dir: Path, corpus: Sequence[str], path: Path, *, name: str, seed: int = 0) -> Path:
    path = Path(path)
    path.write_text(goldens_file_text(model_dir, corpus, name=name, seed=seed), encoding="utf-8")
    return path

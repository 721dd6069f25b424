"""Golden vectors the generated SDK tests check against, computed by the Python side.

Tokenization goldens come from the model folder's own tokenizer (the one the model was trained
with), on a corpus chosen to hit every branch of BERT's basic tokenizer and WordPiece.
"""

from __future__ import annotations

from pathlib import Path

from mobilekit.sdk.inputs import OutputGolden, TokenizationGolden

# Each line exercises something a hand-written tokenizer tends to get wrong.
TOKENIZER_CORPUS: tuple[str, ...] = (
    "",  # empty: [CLS] [SEP] and padding only
    "hello world",
    "Hello, World! How ARE you?",  # casing, punctuation splits
    "The movie was GOOD... really good!!!",
    "naïve café résumé Zürich façade",  # accents (stripped when lower-casing)
    "e\u0301cole",  # combining accent (NFD input)
    "東京は日本の首都です。",  # CJK characters are split one by one
    "I love it 😀👍 so much",  # emoji: astral code points (UTF-16 surrogate pairs)
    "tab\tseparated\nnew line\r\nwindows",  # whitespace characters
    "zero\u200bwidth and\u00a0nbsp",  # zero-width space (format char) and no-break space
    "control\u0000chars\u0007removed\ufffd",  # NUL, BEL and the replacement character are dropped
    "a" * 120,  # longer than max_input_chars_per_word: [UNK]
    "unbelievably extraordinarily uncharacteristically",  # many WordPiece pieces
    "price: $12.50 (20% off) #deal @shop",
    "Ελληνικά και русский текст",  # Greek, Cyrillic
    "ｆｕｌｌｗｉｄｔｈ ＡＢＣ",  # full-width Latin
    "don't won't it's",  # apostrophes
    "word " * 200,  # longer than any sequence length: truncation
    "MiXeD CaSe WoRdS with Numbers 123 and 4.5",
    "   leading and trailing spaces   ",
    "hello [SEP] world",  # special tokens typed in the text: matched before normalization
    "[CLS][MASK]x",
    "a[UNK]b",
    "[sep] [SEP]",  # only as typed: lower-case "[sep]" stays text, even for an uncased model
)


def tokenization_goldens(model_dir: Path, sequence_length: int, texts=TOKENIZER_CORPUS) -> list[TokenizationGolden]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    goldens = []
    for text in texts:
        encoded = tokenizer(text, padding="max_length", truncation=True, max_length=sequence_length)
        token_type_ids = encoded.get("token_type_ids") or [0] * sequence_length
        goldens.append(TokenizationGolden(text, list(encoded["input_ids"]), list(encoded["attention_mask"]), list(token_type_ids)))
    return goldens


FUZZ_FILE = "tokenizer_fuzz.txt"
FUZZ_HEADER = "mkwp-fuzz 1"


def fuzz_goldens_text(model_dir: Path, sequence_length: int, seed: int = 0) -> str:
    """The seeded fuzz corpus (``bpe_goldens.build_corpus``: the hard cases plus 10,000 random strings
    from all Unicode planes) and the model's own tokenizer's input ids for each, truncated to
    ``sequence_length`` and unpadded. One text a line: ``<UTF-8 hex, - when empty> <ids>``."""
    from transformers import AutoTokenizer

    from mobilekit.sdk.bpe_goldens import build_corpus

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    corpus = build_corpus(seed)
    ids = tokenizer(corpus, truncation=True, max_length=sequence_length)["input_ids"]
    lines = [f"{FUZZ_HEADER} {len(corpus)} {sequence_length}"]
    lines += [f"{text.encode('utf-8').hex() or '-'} {','.join(map(str, row))}" for text, row in zip(corpus, ids)]
    return "\n".join(lines) + "\n"


def output_goldens(raw_outputs, texts: list[str], *, task: str, labels: list[str] | None) -> list[OutputGolden]:
    """What the SDK wrapper must return for each raw model output (the post-processing contract)."""
    import numpy as np

    goldens = []
    for text, raw in zip(texts, np.asarray(raw_outputs, dtype=np.float64)):
        if task == "text-classification":
            shifted = np.exp(raw - raw.max())
            probabilities = shifted / shifted.sum()
            order = sorted(range(len(raw)), key=lambda i: (-probabilities[i], i))
            expected = [[labels[i], float(probabilities[i])] for i in order]
        else:
            expected = [float(v) for v in raw]  # normalization already happens inside the graph
        goldens.append(OutputGolden(text, [float(v) for v in raw], expected))
    return goldens

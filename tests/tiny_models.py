"""Tiny, real Hugging Face model folders for tests.

``make_tiny_bert`` writes what ``save_pretrained`` writes for a real checkpoint (config.json,
model.safetensors, tokenizer.json, tokenizer_config.json) plus vocab.txt, and for sentence
embeddings the sentence-transformers files (modules.json, 1_Pooling/config.json, 2_Normalize).
The weights are random (seeded); ``make_trained_tiny_classifier`` trains a classifier head for a
few steps on a synthetic "good"/"bad" sentiment set so that its argmax is decided by a clear margin,
not by random near-ties.

Everything is small enough to build in well under two seconds (after torch is imported).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [
    "good", "great", "love", "nice", "fun", "best",
    "bad", "awful", "hate", "boring", "worst", "poor",
    "the", "a", "movie", "film", "plot", "acting", "was", "is", "very", "really",
    "this", "it", "and", "not", "i", "so", "story", "music",
    "cafe", "play", "##ing", "##ed", "##s", "##ly", "##er",
]
CASED_WORDS = ["Good", "Bad", "The", "Movie", "I", "This"]
ACCENTED_AND_CJK = ["é", "ü", "ñ", "ç", "中", "文", "字", "日", "本", "語"]
PUNCTUATION = [".", ",", "!", "?", "'"]

POSITIVE_WORDS = ["good", "great", "love", "nice", "fun", "best"]
NEGATIVE_WORDS = ["bad", "awful", "hate", "boring", "worst", "poor"]
NEUTRAL_WORDS = ["the", "a", "movie", "film", "plot", "acting", "was", "is", "very", "really",
                 "this", "it", "and", "so", "story", "music"]

TINY_CONFIG = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=64,
    type_vocab_size=2,
)


def tiny_vocab(*, cased: bool = False) -> list[str]:
    """The token list, id = index. Special tokens first, as in every BERT vocab."""
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = list(SPECIAL_TOKENS) + PUNCTUATION + letters + ["##" + c for c in letters]
    vocab += ACCENTED_AND_CJK + [w for w in WORDS if w not in vocab]
    if cased:
        upper = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
        vocab += upper + [w for w in CASED_WORDS if w not in vocab]
    return vocab


def _write_tokenizer(model_dir: Path, vocab: list[str], *, cased: bool, max_length: int) -> None:
    from transformers import BertTokenizerFast

    # vocab= as a dict: BertTokenizerFast(vocab_file=...) silently builds a 5-token vocab in
    # transformers 5.24 (see shared/toolchains.md); the id check below guards against that trap.
    tokenizer = BertTokenizerFast(
        vocab={tok: i for i, tok in enumerate(vocab)},
        do_lower_case=not cased,
        model_max_length=max_length,
    )
    ids = tokenizer("good movie")["input_ids"]
    expected = [vocab.index("[CLS]"), vocab.index("good"), vocab.index("movie"), vocab.index("[SEP]")]
    if ids != expected:
        raise AssertionError(f"tiny tokenizer is wrong: {ids} != {expected}")
    tokenizer.save_pretrained(model_dir)
    (model_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")


def _write_sentence_transformers_files(model_dir: Path, hidden_size: int, normalize: bool) -> None:
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append(
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
        )
        (model_dir / "2_Normalize").mkdir(exist_ok=True)
    (model_dir / "modules.json").write_text(json.dumps(modules, indent=2))
    pooling = {
        "word_embedding_dimension": hidden_size,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    (model_dir / "1_Pooling").mkdir(exist_ok=True)
    (model_dir / "1_Pooling" / "config.json").write_text(json.dumps(pooling, indent=2))
    (model_dir / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 64, "do_lower_case": False}, indent=2)
    )


def _build_model(*, task: str, vocab_size: int, num_labels: int, labels: list[str] | None,
                 seed: int, architecture: str):
    import torch
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        BertModel,
        DistilBertConfig,
        DistilBertForSequenceClassification,
        DistilBertModel,
    )

    torch.manual_seed(seed)
    label_kwargs = {}
    if task == "text-classification":
        names = labels or [f"LABEL_{i}" for i in range(num_labels)]
        if len(names) != num_labels:
            raise ValueError(f"{len(names)} labels given for num_labels={num_labels}")
        label_kwargs = dict(
            num_labels=num_labels,
            id2label={i: n for i, n in enumerate(names)},
            label2id={n: i for i, n in enumerate(names)},
        )
    if architecture == "bert":
        config = BertConfig(vocab_size=vocab_size, pad_token_id=0, **TINY_CONFIG, **label_kwargs)
        cls = BertForSequenceClassification if task == "text-classification" else BertModel
    elif architecture == "distilbert":
        config = DistilBertConfig(
            vocab_size=vocab_size, pad_token_id=0, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
            max_position_embeddings=64, **label_kwargs,
        )
        cls = DistilBertForSequenceClassification if task == "text-classification" else DistilBertModel
    else:
        raise ValueError(f"unknown architecture {architecture!r}")
    model = cls(config)  # BertModel keeps its pooler, as all-MiniLM-L6-v2's checkpoint does
    model.eval()
    return model


def make_tiny_bert(
    dir: Path,
    *,
    task: str = "text-classification",
    num_labels: int = 2,
    cased: bool = False,
    labels: list[str] | None = None,
    seed: int = 0,
    architecture: str = "bert",
    normalize: bool = True,
) -> Path:
    """Write a tiny, real Hugging Face model folder into ``dir`` and return ``dir``.

    task: "text-classification" (BertForSequenceClassification with id2label) or
    "sentence-embedding" (BertModel + sentence-transformers files, mean pooling, Normalize when
    ``normalize``). architecture: "bert" (default) or "distilbert" (no token_type_ids).
    """
    if task not in ("text-classification", "sentence-embedding"):
        raise ValueError(f"unknown task {task!r}")
    dir = Path(dir)
    dir.mkdir(parents=True, exist_ok=True)
    vocab = tiny_vocab(cased=cased)
    model = _build_model(task=task, vocab_size=len(vocab), num_labels=num_labels, labels=labels,
                         seed=seed, architecture=architecture)
    model.save_pretrained(dir)
    _write_tokenizer(dir, vocab, cased=cased, max_length=TINY_CONFIG["max_position_embeddings"])
    if task == "sentence-embedding":
        _write_sentence_transformers_files(dir, TINY_CONFIG["hidden_size"], normalize)
    return dir


def sentiment_samples(n: int, *, seed: int = 0) -> tuple[list[str], list[int]]:
    """n synthetic sentences; label 1 when the sentiment word is positive, 0 when negative.

    Every sentence holds exactly one sentiment word among 2-8 neutral ones, so a trained model
    separates them with a wide margin.
    """
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        words = [rng.choice(NEUTRAL_WORDS) for _ in range(rng.randint(2, 8))]
        words.insert(rng.randint(0, len(words)), rng.choice(POSITIVE_WORDS if label else NEGATIVE_WORDS))
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def write_reviews_csv(path: Path, n: int, *, seed: int = 0) -> Path:
    """``n`` sentiment_samples as a CSV with the columns ``review`` and ``sentiment`` (0/1)."""
    import csv

    texts, labels = sentiment_samples(n, seed=seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["review", "sentiment"])
        writer.writerows(zip(texts, labels))
    return path


def make_trained_tiny_classifier(dir: Path, *, seed: int = 0, steps: int = 60,
                                 sequence_length: int = 16, architecture: str = "bert",
                                 train_size: int = 192, lr: float = 3e-3) -> Path:
    """A tiny binary classifier ("negative"/"positive") trained on ``sentiment_samples``.

    60 Adam steps on 64 sentences take about a second on 2 cores; the result classifies the
    synthetic set perfectly with logit margins far above float16/int8 noise.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    make_tiny_bert(dir, labels=["negative", "positive"], seed=seed, architecture=architecture)
    tokenizer = AutoTokenizer.from_pretrained(dir)
    model = AutoModelForSequenceClassification.from_pretrained(dir)
    texts, labels = sentiment_samples(train_size, seed=seed + 1000)
    enc = tokenizer(texts, padding="max_length", truncation=True, max_length=sequence_length,
                    return_tensors="pt")
    enc.pop("token_type_ids", None) if architecture == "distilbert" else None
    target = torch.tensor(labels)
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(**enc).logits, target)
        loss.backward()
        optimizer.step()
    model.eval()
    model.save_pretrained(dir)
    return dir


# --- Converted artifacts shared by tests ----------------------------------------------------------
# Converting with onnx2tf takes ~10 s per run, so every test module (in tests/convert, tests/runners,
# tests/verify) shares one conversion per model per pytest session through this in-process cache.

TEST_SEQUENCE_LENGTH = 16  # not the hidden size (32): see the onnx2tf bug in shared/toolchains.md
_CACHE: dict[str, object] = {}
_ROOT: Path | None = None


def _cache_root() -> Path:
    global _ROOT
    if _ROOT is None:
        import atexit
        import shutil
        import tempfile

        _ROOT = Path(tempfile.mkdtemp(prefix="mobilekit-tests-"))
        atexit.register(shutil.rmtree, _ROOT, True)
    return _ROOT


def _cached(key: str, build):
    if key not in _CACHE:
        _CACHE[key] = build(_cache_root() / key)
    return _CACHE[key]


def cached_classifier() -> Path:
    """The trained tiny classifier folder (shared, do not modify)."""
    return _cached("classifier", make_trained_tiny_classifier)


def cached_embedder() -> Path:
    """A tiny sentence-embedding folder (mean pooling + Normalize; shared, do not modify)."""
    return _cached("embedder", lambda d: make_tiny_bert(d, task="sentence-embedding", seed=3))


def cached_onnx(kind: str):
    """OnnxExportInfo for "classifier" or "embedder" at TEST_SEQUENCE_LENGTH."""
    from mobilekit.convert.onnx_export import export_onnx

    def build(d: Path):
        model_dir = cached_classifier() if kind == "classifier" else cached_embedder()
        task = "text-classification" if kind == "classifier" else "sentence-embedding"
        return export_onnx(model_dir, d / "model.onnx", task=task, sequence_length=TEST_SEQUENCE_LENGTH)

    return _cached(f"onnx-{kind}", build)


def calibration_texts() -> list[str]:
    return sentiment_samples(32, seed=7)[0] + ["Café 中文 playing!", "", "a " * 40]


def cached_tflite(kind: str):
    """TfliteConversion of cached_onnx(kind) with all four variants."""
    from mobilekit.convert.onnx_export import tokenize
    from mobilekit.convert.tflite import VARIANTS, convert_tflite_detailed

    def build(d: Path):
        model_dir = cached_classifier() if kind == "classifier" else cached_embedder()
        calibration = tokenize(model_dir, calibration_texts(), TEST_SEQUENCE_LENGTH)
        return convert_tflite_detailed(cached_onnx(kind).path, d, variants=list(VARIANTS),
                                       calibration=calibration)

    return _cached(f"tflite-{kind}", build)

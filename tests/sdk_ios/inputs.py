"""SdkInputs for the iOS tests, built from real tiny models with their real goldens."""

from __future__ import annotations

import json
from pathlib import Path

from mobilekit.sdk.golden import TOKENIZER_CORPUS, fuzz_goldens_text, output_goldens, tokenization_goldens
from mobilekit.sdk.inputs import SdkInputs, TokenizerSettings

SEQUENCE_LENGTH = 16
# Everything a label can hold that breaks naive code generation.
HOSTILE_LABELS = [
    'say "hi"',
    "back\\slash \\n not a newline",
    "\\(interpolation) and \\u{41}",
    "two\nlines\r\tand tab",
    "naïve café — Zürich",
    "😀 emoji 👍🏽 family 👨‍👩‍👧",
    "e\u0301 combining, \u202eRTL override, zero\u200bwidth",
    "#\"raw\"# \"\"\" triple",
]
# Special and added tokens typed in the text: `tokenizers` splits them out before normalizing, and
# only as typed ("[sep]" stays text, even for an uncased model). The last lines exercise the added
# tokens of `add_flagged_tokens` (single word, strip left/right, normalized) and are plain text for
# the models without them.
ADDED_TOKEN_TEXTS = (
    "hello [SEP] world",
    "[CLS][MASK]x",
    "a[UNK]b",
    "[sep] [Sep] [SEP]",
    "[[SEP]] [SEP [PAD][PAD]",
    "x\u00a0[MASK]\u00a0y\t[CLS]\n",
    "a movie, amovie",
    "movies movie\u0301s _movie",
    "x  PLOT  y xploty plot\u3000.",
    "zap ZAP Zap zapzap",
    "fun  fun\tfun funny",
    "a  <x>b <x><x> [SEP]  <x>",
)
# The added tokens behind the last lines of ADDED_TOKEN_TEXTS: (content, options), in the vocabulary
# or not (then they get new ids after it).
FLAGGED_TOKENS = (
    ("movie", dict(single_word=True, normalized=False)),
    ("plot", dict(lstrip=True, rstrip=True, normalized=True)),
    ("Zap", dict(normalized=True)),
    ("fun", dict(rstrip=True, normalized=False)),
)


def add_flagged_tokens(model_dir: Path) -> Path:
    """Adds FLAGGED_TOKENS and a special ``<x>`` (strip left) to the model folder's tokenizer."""
    from tokenizers import AddedToken
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    tokenizer.add_tokens([AddedToken(content, **options) for content, options in FLAGGED_TOKENS])
    special = AddedToken("<x>", special=True, normalized=False, lstrip=True)
    tokenizer.add_special_tokens({"additional_special_tokens": [special]})
    vocab = (model_dir / "vocab.txt").read_bytes()
    tokenizer.save_pretrained(str(model_dir))
    (model_dir / "vocab.txt").write_bytes(vocab)  # the model's own vocabulary, without the new tokens
    return model_dir


def make_inputs(model_dir: Path, *, task: str, module: str, class_name: str, coreml_model: Path | None = None) -> SdkInputs:
    from mobilekit.convert.onnx_export import reference_outputs, tokenize
    from mobilekit.modelinfo import tokenizer_settings

    settings = tokenizer_settings(model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))] if task == "text-classification" else None
    texts = [t for t in TOKENIZER_CORPUS if t.strip()][:6]
    encodings = tokenize(model_dir, texts, SEQUENCE_LENGTH)
    raw = reference_outputs(model_dir, encodings, task=task, pooling="mean", normalize=True)
    return SdkInputs(
        project_name="Hostile \"project\" \\(name)",
        version="1.2.3",
        task=task,
        labels=labels,
        sequence_length=SEQUENCE_LENGTH,
        normalize=True if task == "sentence-embedding" else None,
        tokenizer=TokenizerSettings.from_declared(settings),
        vocab=(model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines(),
        vocab_file=model_dir / "vocab.txt",
        model_sha256="0" * 64,
        mobilekit_version="0.1.0",
        android_package="com.example.test",
        android_class_name=class_name,
        android_group_id="com.example",
        android_artifact_id="test",
        android_min_sdk=23,
        tflite_model=None,
        tflite_variant=None,
        ios_module=module,
        ios_class_name=class_name,
        coreml_model=coreml_model,
        coreml_variant="float16" if coreml_model is not None else None,
        tokenization_goldens=tokenization_goldens(model_dir, SEQUENCE_LENGTH,
                                                  TOKENIZER_CORPUS + ADDED_TOKEN_TEXTS),
        output_goldens=output_goldens(raw, texts, task=task, labels=labels),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_name="logits" if task == "text-classification" else "embedding",
        fuzz_goldens=fuzz_goldens_text(model_dir, SEQUENCE_LENGTH),
    )


def fake_mlpackage(path: Path) -> Path:
    """A folder laid out like an .mlpackage (Core ML cannot run here; only its bundling is tested)."""
    data = path / "Data" / "com.apple.CoreML"
    (data / "weights").mkdir(parents=True)
    (data / "model.mlmodel").write_bytes(b"\x08\x07fake spec")
    (data / "weights" / "weight.bin").write_bytes(bytes(range(256)) * 4)
    (path / "Manifest.json").write_text(json.dumps({"fileFormatVersion": "1.0.0", "itemInfoEntries": {}}))
    return path

"""SdkInputs for the iOS tests, built from real tiny models with their real goldens."""

from __future__ import annotations

import json
from pathlib import Path

from mobilekit.sdk.golden import TOKENIZER_CORPUS, output_goldens, tokenization_goldens
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
        tokenizer=TokenizerSettings(
            do_lower_case=bool(settings["do_lower_case"]),
            strip_accents=settings["strip_accents"],
            tokenize_chinese_chars=bool(settings["tokenize_chinese_chars"]),
            unk_token=settings["unk_token"],
            cls_token=settings["cls_token"],
            sep_token=settings["sep_token"],
            pad_token=settings["pad_token"],
            max_input_chars_per_word=int(settings["max_input_chars_per_word"]),
        ),
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
        tokenization_goldens=tokenization_goldens(model_dir, SEQUENCE_LENGTH),
        output_goldens=output_goldens(raw, texts, task=task, labels=labels),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_name="logits" if task == "text-classification" else "embedding",
    )


def fake_mlpackage(path: Path) -> Path:
    """A folder laid out like an .mlpackage (Core ML cannot run here; only its bundling is tested)."""
    data = path / "Data" / "com.apple.CoreML"
    (data / "weights").mkdir(parents=True)
    (data / "model.mlmodel").write_bytes(b"\x08\x07fake spec")
    (data / "weights" / "weight.bin").write_bytes(bytes(range(256)) * 4)
    (path / "Manifest.json").write_text(json.dumps({"fileFormatVersion": "1.0.0", "itemInfoEntries": {}}))
    return path

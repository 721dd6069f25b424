"""What both SDK generators receive: names, the model description, the chosen model files, goldens.

The generate stage builds one ``SdkInputs`` and hands it to the Android and the iOS generator, so
both platforms are rendered from exactly the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TokenizerSettings:
    """The BERT WordPiece behaviour the native tokenizers reproduce (from the model folder)."""

    do_lower_case: bool
    strip_accents: bool | None  # None: follow do_lower_case, as the Python BertNormalizer does
    tokenize_chinese_chars: bool
    unk_token: str
    cls_token: str
    sep_token: str
    pad_token: str
    max_input_chars_per_word: int

    @classmethod
    def from_declared(cls, settings: dict[str, Any]) -> "TokenizerSettings":
        """From what ``mobilekit.modelinfo.tokenizer_settings`` reads out of a model folder."""
        return cls(
            do_lower_case=bool(settings["do_lower_case"]),
            strip_accents=settings["strip_accents"],
            tokenize_chinese_chars=bool(settings["tokenize_chinese_chars"]),
            unk_token=settings["unk_token"],
            cls_token=settings["cls_token"],
            sep_token=settings["sep_token"],
            pad_token=settings["pad_token"],
            max_input_chars_per_word=int(settings["max_input_chars_per_word"]),
        )


@dataclass(frozen=True)
class TokenizationGolden:
    text: str
    input_ids: list[int]
    attention_mask: list[int]
    token_type_ids: list[int]


@dataclass(frozen=True)
class OutputGolden:
    """Expected post-processing: raw model output in, what the wrapper returns out."""

    text: str
    raw_output: list[float]  # logits (classification) or the pooled embedding, from torch
    expected: list[Any]  # [(label, probability), ...] sorted, or the embedding as returned


@dataclass(frozen=True)
class BucketGolden:
    """A text at a length bucket's edge: the bucket it runs in and the ids padded to that bucket."""

    text: str
    token_count: int  # after truncation to the largest bucket
    bucket: int
    input_ids: list[int]
    attention_mask: list[int]
    token_type_ids: list[int]


@dataclass(frozen=True)
class SdkInputs:
    project_name: str
    version: str
    task: str  # "text-classification" | "sentence-embedding"
    labels: list[str] | None
    sequence_length: int
    normalize: bool | None
    tokenizer: TokenizerSettings
    vocab: list[str]  # id -> token, in id order
    vocab_file: Path  # the model folder's vocab.txt
    model_sha256: str  # of the source model folder
    mobilekit_version: str
    # Android
    android_package: str
    android_class_name: str
    android_group_id: str
    android_artifact_id: str
    android_min_sdk: int
    tflite_model: Path | None  # the variant shipped on Android
    tflite_variant: str | None
    # iOS
    ios_module: str
    ios_class_name: str
    coreml_model: Path | None  # the .mlpackage shipped on iOS
    coreml_variant: str | None
    tokenization_goldens: list[TokenizationGolden] = field(default_factory=list)
    output_goldens: list[OutputGolden] = field(default_factory=list)
    input_names: list[str] = field(default_factory=lambda: ["input_ids", "attention_mask", "token_type_ids"])
    output_name: str = "logits"
    fuzz_goldens: str = ""  # golden.FUZZ_FILE's text: the seeded fuzz corpus and the model tokenizer's ids
    # Length buckets of the shipped TFLite model (mobilekit.buckets): {length: signature}, and the
    # goldens of the bucket choice. Empty: one bucket, sequence_length, serving_default.
    bucket_signatures: dict[int, str] = field(default_factory=dict)
    bucket_goldens: list[BucketGolden] = field(default_factory=list)
    # Length buckets of the shipped Core ML model: {length: function}. Empty: one function.
    coreml_bucket_functions: dict[int, str] = field(default_factory=dict)
    # A static student (distill.student = "static"): its static_model.bin, which both SDKs ship and
    # compute in plain Kotlin/Swift instead of a TFLite or Core ML model.
    static_model: Path | None = None

    @property
    def is_static(self) -> bool:
        return self.static_model is not None

    @property
    def length_buckets(self) -> list[int]:
        """The Android model's buckets."""
        return sorted(self.bucket_signatures) or [self.sequence_length]

    @property
    def coreml_length_buckets(self) -> list[int]:
        """The iOS model's buckets."""
        return sorted(self.coreml_bucket_functions) or [self.sequence_length]

    def model_manifest(self, *, platform: str) -> dict[str, Any]:
        """The small JSON both SDKs ship next to the model: what it is and how to feed it."""
        return {
            "mobilekit_version": self.mobilekit_version,
            "project": self.project_name,
            "version": self.version,
            "task": self.task,
            "labels": self.labels,
            "sequence_length": self.sequence_length,
            "length_buckets": self.length_buckets if platform == "android" else self.coreml_length_buckets,
            "normalize": self.normalize,
            "input_names": self.input_names,
            "output_name": self.output_name,
            "model_sha256": self.model_sha256,
            "variant": "static" if self.is_static else self.tflite_variant if platform == "android" else self.coreml_variant,
            "tokenizer": self.tokenizer.__dict__,
        }

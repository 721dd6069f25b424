"""Assembles ``SdkInputs`` from the config and the artifacts of earlier stages."""

from __future__ import annotations

from pathlib import Path

from mobilekit import __version__
from mobilekit.config import Config
from mobilekit.fsutil import sha256_tree
from mobilekit.sdk.golden import TOKENIZER_CORPUS, fuzz_goldens_text, output_goldens, tokenization_goldens
from mobilekit.sdk.inputs import SdkInputs, TokenizerSettings

GOLDEN_OUTPUT_TEXTS = 6


def build_sdk_inputs(config: Config, inputs: dict[str, Path], metadata: dict[str, dict], verify: dict) -> SdkInputs:
    from mobilekit.convert.onnx_export import reference_outputs, tokenize
    from mobilekit.sdk.variants import shipped_models

    model_dir = inputs["model"]
    description = metadata["onnx"]
    settings = description["tokenizer"]
    vocab_file = model_dir / "vocab.txt"
    vocab = vocab_file.read_text(encoding="utf-8").splitlines()

    shipped = shipped_models(config, inputs, verify)

    texts = [t for t in TOKENIZER_CORPUS if t.strip()][:GOLDEN_OUTPUT_TEXTS]
    encodings = tokenize(model_dir, texts, config.model.sequence_length, description["input_names"])
    raw = reference_outputs(model_dir, encodings, task=config.model.task, pooling=config.model.pooling, normalize=config.model.normalize)

    return SdkInputs(
        **config_names(config),
        task=config.model.task,
        labels=description["labels"],
        sequence_length=config.model.sequence_length,
        normalize=description["normalize"],
        tokenizer=TokenizerSettings.from_declared(settings),
        vocab=vocab,
        vocab_file=vocab_file,
        model_sha256=sha256_tree(model_dir),
        tflite_model=shipped.tflite_model,
        tflite_variant=shipped.tflite_variant,
        coreml_model=shipped.coreml_model,
        coreml_variant=shipped.coreml_variant,
        tokenization_goldens=tokenization_goldens(model_dir, config.model.sequence_length),
        output_goldens=output_goldens(raw, texts, task=config.model.task, labels=description["labels"]),
        input_names=list(description["input_names"]),
        output_name=description["output_name"],
        fuzz_goldens=fuzz_goldens_text(model_dir, config.model.sequence_length),
        **_buckets(model_dir, metadata, shipped.tflite_variant, shipped.coreml_variant),
    )


def config_names(config: Config) -> dict:
    """The SdkInputs fields that come from the config's names alone (project, [android], [ios])."""
    a, i = config.android, config.ios
    return {"project_name": config.project.name, "version": config.project.version, "mobilekit_version": __version__,
            "android_package": a.package, "android_class_name": a.class_name, "android_group_id": a.group_id,
            "android_artifact_id": a.artifact_id, "android_min_sdk": a.min_sdk,
            "ios_module": i.module, "ios_class_name": i.class_name}


def _buckets(model_dir: Path, metadata: dict[str, dict], tflite_variant: str | None, coreml_variant: str | None) -> dict:
    """The shipped models' length buckets ({length: TFLite signature}, {length: Core ML function})
    and the goldens of the bucket choice (none when neither model has several buckets)."""
    from mobilekit import variants as _v
    from mobilekit.errors import SdkBuildError
    from mobilekit.sdk.bucket_goldens import bucket_goldens

    def table(key: str | None, field: str) -> dict[int, str]:
        recorded = (metadata.get(key) or {}).get(field) if key else None
        if not recorded or len(recorded) < 2:
            return {}
        return {int(length): name for length, name in sorted(recorded.items(), key=lambda kv: int(kv[0]))}

    signatures = table(tflite_variant and _v.tflite_key(tflite_variant), "signatures")
    functions = table(coreml_variant and _v.coreml_key(coreml_variant), "functions")
    if signatures and functions and list(signatures) != list(functions):
        raise SdkBuildError(f"the TFLite model's length buckets {list(signatures)} differ from the Core ML model's "
                            f"{list(functions)}", hint="rebuild from the convert stage: both come from model.length_buckets")
    lengths = list(signatures or functions)
    if not lengths:
        return {}
    return {"bucket_signatures": signatures, "coreml_bucket_functions": functions,
            "bucket_goldens": bucket_goldens(model_dir, lengths)}

"""generate (Android, text-generation): the Gradle library module of a causal language model.

The same module layout, provenance file and packager as the encoder SDKs (``generator.py``); what
differs is the code: the LLM runtime's real Kotlin files (``templates/android/llm``, copied with
their package line rewritten, see ``mobilekit.llm.sdk_sources``), a rendered model class that
loads the assets, the chat shape recognised in the model's template, and tests that replay the
goldens Python recorded (``LlmSdkInputs.goldens``, under ``src/test/resources``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from mobilekit.errors import ModelInputError, SdkBuildError
from mobilekit.fsutil import sha256_file
from mobilekit.llm.chat_template import kotlin_shape_object
from mobilekit.llm.sdk_sources import kotlin_golden_shapes, kotlin_source
from mobilekit.sdk.android.generator import check_names, render_files, write_json
from mobilekit.sdk.android.template import AndroidTemplate, load_template
from mobilekit.sdk.llm_inputs import LlmSdkInputs
from mobilekit.templating import TEMPLATES_ROOT


def generate_android_llm(inputs: LlmSdkInputs, out_dir: Path) -> None:
    """Write the Android library module for ``inputs`` into ``out_dir`` (which must not exist yet)."""
    template = load_template()
    check_names(inputs, template.generated_types | template.llm_generated_types)
    if inputs.tflite_model is None or not Path(inputs.tflite_model).is_file() or Path(inputs.tflite_model).stat().st_size == 0:
        raise ModelInputError(f"the TFLite model to ship ({inputs.tflite_model}) is missing or empty")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise SdkBuildError(f"{out_dir} is not empty; the Android module is generated into a fresh folder")
    context = template_context(inputs, template)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_sources(inputs, template, context, out_dir)
        render_files(template, context, out_dir)
        _write_assets(inputs, template, context, out_dir)
        write_json(out_dir / template.paths["provenance"], provenance(inputs, template, context))
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)  # never leave a half-written module behind
        raise


def template_context(inputs: LlmSdkInputs, template: AndroidTemplate) -> dict[str, Any]:
    package_path = inputs.android_package.replace(".", "/")
    spec = inputs.spec
    return {
        **template.as_context(),
        "task": inputs.task,
        "project_name": inputs.project_name,
        "version": inputs.version,
        "mobilekit_version": inputs.mobilekit_version,
        "package": inputs.android_package,
        "package_path": package_path,
        "class_name": inputs.android_class_name,
        "group_id": inputs.android_group_id,
        "artifact_id": inputs.android_artifact_id,
        "min_sdk": inputs.android_min_sdk,
        "model_type": inputs.model_type,
        "tflite_variant": inputs.tflite_variant or "unknown",
        "tflite_sha256": sha256_file(Path(inputs.tflite_model)),
        "asset_dir": template.paths["asset_dir"].format(package=inputs.android_package),
        "context_length": spec.context_length,
        "vocab_size": spec.vocab_size,
        "num_layers": spec.num_layers,
        "prefill_lengths": list(spec.prefill_lengths),
        "stop_token_ids": list(inputs.stop_token_ids),
        "has_chat": inputs.chat_shape is not None,
        "bpe_cases": inputs.golden_counts.get("tokenizer_texts", 0),
        "kotlin_main": template.paths["kotlin_main"].format(package_path=package_path),
        "kotlin_test": template.paths["kotlin_test"].format(package_path=package_path),
    }


def _write_sources(inputs: LlmSdkInputs, template: AndroidTemplate, context: dict[str, Any], out_dir: Path) -> None:
    package = inputs.android_package
    for folder, sources in ((context["kotlin_main"], template.llm_sources), (context["kotlin_test"], template.llm_test_sources)):
        target = out_dir / folder
        target.mkdir(parents=True, exist_ok=True)
        for source in sources:
            path = TEMPLATES_ROOT / "android" / source
            (target / path.name).write_text(kotlin_source(path, package), encoding="utf-8", newline="\n")
    main, test = out_dir / context["kotlin_main"], out_dir / context["kotlin_test"]
    if inputs.chat_shape is not None:
        (main / "GeneratedChatShape.kt").write_text(kotlin_shape_object(inputs.chat_shape, package), encoding="utf-8", newline="\n")
        shapes = {"model": "GeneratedChatShape"}
    else:
        shapes = {}
    (test / "GoldenChatShapes.kt").write_text(kotlin_golden_shapes(package, shapes), encoding="utf-8", newline="\n")


def _write_assets(inputs: LlmSdkInputs, template: AndroidTemplate, context: dict[str, Any], out_dir: Path) -> None:
    assets = out_dir / template.paths["assets_root"] / context["asset_dir"]
    assets.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(inputs.tflite_model, assets / template.assets["model"])
    (assets / template.assets["tokenizer"]).write_bytes(inputs.tokenizer_asset)
    manifest = inputs.model_manifest(platform="android")
    manifest.update(tflite_sha256=context["tflite_sha256"], template_version=template.version)
    write_json(assets / template.assets["manifest"], manifest)
    resources = out_dir / template.paths["test_resources"]
    resources.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(inputs.goldens.items()):
        (resources / name).write_text(text, encoding="utf-8", newline="\n")


def provenance(inputs: LlmSdkInputs, template: AndroidTemplate, context: dict[str, Any]) -> dict[str, Any]:
    """mobilekit-sdk.json, in the encoder modules' schema: the packager reads nothing else."""
    return {
        "generator": {"name": "mobilekit", "version": inputs.mobilekit_version},
        "template": {"name": "android", "version": template.version},
        "project": {"name": inputs.project_name, "version": inputs.version},
        "task": inputs.task,
        "package": inputs.android_package,
        "class_name": inputs.android_class_name,
        "maven": {"group_id": inputs.android_group_id, "artifact_id": inputs.android_artifact_id, "version": inputs.version},
        "min_sdk": inputs.android_min_sdk,
        "model": {
            "source_sha256": inputs.model_sha256,
            "tflite_variant": inputs.tflite_variant,
            "tflite_sha256": context["tflite_sha256"],
            "context_length": inputs.spec.context_length,
        },
        "paths": {
            "kotlin_main": context["kotlin_main"],
            "kotlin_test": context["kotlin_test"],
            "assets_root": template.paths["assets_root"],
            "asset_dir": context["asset_dir"],
            "manifest": template.paths["manifest"],
            "consumer_rules": template.paths["consumer_rules"],
            "res": template.paths["res"],
            "test_resources": template.paths["test_resources"],
        },
        "assets": {k: template.assets[k] for k in ("model", "tokenizer", "manifest")},
        "dependencies": template.dependencies,
        "kotlinc": template.kotlinc,
        "goldens": dict(inputs.golden_counts),
    }

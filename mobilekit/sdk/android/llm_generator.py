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

from mobilekit.errors import ModelInputError
from mobilekit.llm.chat_template import kotlin_shape_object
from mobilekit.llm.sdk_sources import kotlin_golden_shapes
from mobilekit.sdk.android.generator import module_context, module_provenance, name_problems, raise_all, write_json, write_module
from mobilekit.sdk.android.template import load_template
from mobilekit.sdk.llm_inputs import LlmSdkInputs
from mobilekit.sdk.template_manifest import TemplateManifest


def generate_android_llm(inputs: LlmSdkInputs, out_dir: Path) -> None:
    """Write the Android library module for ``inputs`` into ``out_dir`` (which must not exist yet)."""
    template = load_template()
    problems = name_problems(inputs, template.reserved_for(inputs.task))
    if inputs.tflite_model is None or not Path(inputs.tflite_model).is_file() or Path(inputs.tflite_model).stat().st_size == 0:
        problems.append((ModelInputError, f"the TFLite model to ship ({inputs.tflite_model}) is missing or empty", None))
    raise_all(problems)
    context = template_context(inputs, template)
    write_module(out_dir, template, context, provenance(inputs, template, context),
                 lambda root: _write_sources(inputs, template, context, root),
                 lambda root: _write_assets(inputs, template, context, root))


def template_context(inputs: LlmSdkInputs, template: TemplateManifest) -> dict[str, Any]:
    return {**module_context(inputs, template), **inputs.template_facts()}


def _write_sources(inputs: LlmSdkInputs, template: TemplateManifest, context: dict[str, Any], out_dir: Path) -> None:
    package = inputs.android_package
    main, test = out_dir / context["kotlin_main"], out_dir / context["kotlin_test"]
    for folder in (main, test):
        folder.mkdir(parents=True, exist_ok=True)
    if inputs.chat_shape is not None:
        (main / "GeneratedChatShape.kt").write_text(kotlin_shape_object(inputs.chat_shape, package), encoding="utf-8", newline="\n")
        shapes = {"model": "GeneratedChatShape"}
    else:
        shapes = {}
    (test / "GoldenChatShapes.kt").write_text(kotlin_golden_shapes(package, shapes), encoding="utf-8", newline="\n")


def _write_assets(inputs: LlmSdkInputs, template: TemplateManifest, context: dict[str, Any], out_dir: Path) -> None:
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


def provenance(inputs: LlmSdkInputs, template: TemplateManifest, context: dict[str, Any]) -> dict[str, Any]:
    """mobilekit-sdk.json, in the encoder modules' schema: the packager reads nothing else."""
    return module_provenance(inputs, template, context, model={"context_length": inputs.spec.context_length},
                             assets={k: template.assets[k] for k in ("model", "tokenizer", "manifest")},
                             goldens=dict(inputs.golden_counts))

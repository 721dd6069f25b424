"""generate (Android): render the Gradle library module from templates/android/.

The module holds the Kotlin wrapper, the WordPiece tokenizer, JUnit tests with golden vectors,
the assets (model, vocab, labels, manifest) and ``mobilekit-sdk.json``, which records what made it
(template version, inputs, hashes) and is what the packager reads: it never guesses a path.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from mobilekit.config.names import kotlin_package_problem, maven_id_problem, type_name_problem
from mobilekit.errors import ConfigError, ModelInputError, SdkBuildError
from mobilekit.fsutil import sha256_file
from mobilekit.llm.sdk_sources import kotlin_source
from mobilekit.sdk.android.filters import xml_escape
from mobilekit.sdk.android.template import load_template, template_facts
from mobilekit.sdk.added_tokens import added_tokens
from mobilekit.sdk.inputs import SdkInputs
from mobilekit.sdk.template_manifest import TemplateManifest, provenance_header, write_files

TASKS = ("text-classification", "sentence-embedding")
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")

# Simple names the generated sources use without qualification (imports, Kotlin's default imports,
# java.lang). A wrapper class with one of these names would shadow it inside the package and break
# the build, so such a class name is rejected. tests/sdk_android checks this list against the
# templates, so a template that starts using a new name cannot forget to add it here.
REFERENCED_NAMES = frozenset(
    """
    Context AssetManager Closeable Dispatchers Interpreter Tensor DataType ByteBuffer ByteOrder FileChannel
    FileInputStream FileNotFoundException IOException File Normalizer MessageDigest Test Assert Regex HashMap
    ArrayList StringBuilder Character Integer System Charsets Any Unit Nothing Int Long Float Double Boolean
    Byte Char String List Map Pair IntArray FloatArray DoubleArray ByteArray RuntimeException Throwable
    IllegalArgumentException IllegalStateException Exception JvmOverloads JvmField JvmStatic Math Object
    Comparable Iterable Collection Array MutableList Sequence Suppress Deprecated Volatile Synchronized
    """.split()
)

_MAVEN_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+\-]*$")


def generate_android(inputs: SdkInputs, out_dir: Path) -> None:
    """Write the Android library module for ``inputs`` into ``out_dir`` (which must not exist yet)."""
    template = load_template()
    _check_inputs(inputs, template)
    context = template_context(inputs, template)
    write_module(out_dir, template, context, provenance(inputs, template, context),
                 lambda root: _write_assets(inputs, template, context, root))


def write_module(out_dir: Path, template: TemplateManifest, context: dict[str, Any], provenance_data: dict[str, Any],
                 *write_steps) -> None:
    """Into a fresh ``out_dir``: each of ``write_steps(out_dir)``, the rendered templates, then
    mobilekit-sdk.json. All or nothing: a failure leaves no half-written module behind."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise SdkBuildError(f"{out_dir} is not empty; the Android module is generated into a fresh folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for step in write_steps:
            step(out_dir)
        package = context["package"]
        write_files(template, context, out_dir, lambda path, _output: kotlin_source(path, package), environment())
        write_json(out_dir / template.paths["provenance"], provenance_data)
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise


# -- checks -----------------------------------------------------------------------------------------


def check_names(inputs, reserved: frozenset[str]) -> None:
    """The [android] names and the project version, as Kotlin, Maven and a POM need them; every problem at once."""
    raise_all(name_problems(inputs, reserved))


def name_problems(inputs, reserved: frozenset[str]) -> list[tuple[type, str, str | None]]:
    """(error class, message, hint) for each problem with the [android] names, version and project name."""
    problems = []
    for key, value, problem in (
        ("android.package", inputs.android_package, kotlin_package_problem(inputs.android_package)),
        ("android.class_name", inputs.android_class_name, type_name_problem(inputs.android_class_name)),
        ("android.group_id", inputs.android_group_id, maven_id_problem(inputs.android_group_id)),
        ("android.artifact_id", inputs.android_artifact_id, maven_id_problem(inputs.android_artifact_id)),
    ):
        if problem:
            problems.append((ConfigError, f"{key} = {value!r} cannot be used: {problem}", None))
    name = inputs.android_class_name
    if name in reserved or name in REFERENCED_NAMES:
        what = "a type the generated library defines" if name in reserved else "a type the generated code uses"
        problems.append((ConfigError, f"android.class_name = {name!r} clashes with {what} in package {inputs.android_package}",
                         "set [android] class_name to another name, for example " + name + "Model"))
    if not _MAVEN_VERSION.match(inputs.version or ""):
        problems.append((ConfigError, f"project.version = {inputs.version!r} cannot be a Maven version",
                         "use letters, digits, '.', '-', '+' and '_' only, for example 1.2.0 or 1.2.0-beta1"))
    try:
        xml_escape(inputs.project_name)  # the POM holds it
    except ValueError as e:
        problems.append((ConfigError, f"project.name = {inputs.project_name!r} cannot appear in a POM: {e}",
                         "remove control characters from the project name"))
    return problems


def raise_all(problems: list[tuple[type, str, str | None]]) -> None:
    """One error naming every problem; its class (and so the exit code) is the first problem's."""
    if not problems:
        return
    kind = problems[0][0]
    message = problems[0][1] if len(problems) == 1 else f"{len(problems)} problems: " + "; ".join(m for _, m, _ in problems)
    hints = [h for _, _, h in problems if h]
    raise kind(message, hint="; ".join(hints) or None)


def _check_inputs(inputs: SdkInputs, template: TemplateManifest) -> None:
    problems = name_problems(inputs, template.reserved_for(inputs.task))
    if inputs.task not in TASKS:
        problems.append((SdkBuildError, f"the Android template knows tasks {', '.join(TASKS)}, not {inputs.task!r}", None))
    if inputs.task == "text-classification" and not inputs.labels:
        problems.append((ModelInputError, "a text classifier needs labels (model.labels or the model's id2label)", None))
    unknown_inputs = [n for n in inputs.input_names if n not in INPUT_NAMES]
    if unknown_inputs or "input_ids" not in inputs.input_names:
        problems.append((SdkBuildError, f"the Android template feeds {', '.join(INPUT_NAMES)}; the model takes {inputs.input_names}", None))
    problems += _model_problems(inputs)
    raise_all(problems)


def _model_problems(inputs: SdkInputs) -> list[tuple[type, str, str | None]]:
    problems = []
    what, model = ("static model", inputs.static_model) if inputs.is_static else ("TFLite model", inputs.tflite_model)
    if model is None or not Path(model).is_file():
        problems.append((ModelInputError, f"the {what} to ship ({model}) does not exist", None))
    elif Path(model).stat().st_size == 0:
        problems.append((ModelInputError, f"the {what} to ship ({model}) is empty", None))
    bad = [i for i, token in enumerate(inputs.vocab) if "\n" in token or "\r" in token]
    if bad:
        problems.append((ModelInputError, f"vocabulary token {bad[0]} contains a line break; vocab.txt cannot hold it", None))
    vocab = set(inputs.vocab)
    settings = inputs.tokenizer
    missing = [t for t in (settings.unk_token, settings.cls_token, settings.sep_token, settings.pad_token) if t not in vocab]
    if missing:
        problems.append((ModelInputError, f"the tokenizer's special tokens {missing} are not in the vocabulary", None))
    return problems


# -- context ----------------------------------------------------------------------------------------


def template_context(inputs: SdkInputs, template: TemplateManifest) -> dict[str, Any]:
    from mobilekit.sdk.ios.unicode_tables import load

    tables = load()  # the measured classes the Swift tokenizer uses too: one source for both
    s = inputs.tokenizer
    strip_accents = s.do_lower_case if s.strip_accents is None else bool(s.strip_accents)
    return {
        **module_context(inputs, template),
        "static_tolerance": "1e-5",
        "is_classifier": inputs.task == "text-classification",
        "labels": list(inputs.labels or []),
        "sequence_length": inputs.sequence_length,
        "length_buckets": inputs.length_buckets,
        "bucket_signatures": inputs.bucket_signatures or {inputs.sequence_length: "serving_default"},
        "bucket_goldens": list(inputs.bucket_goldens),
        "normalize": bool(inputs.normalize),
        "input_names": list(inputs.input_names),
        "output_name": inputs.output_name,
        "model_sha256": inputs.model_sha256,
        "vocab_size": len(inputs.vocab),
        "tokenizer": {
            "do_lower_case": bool(s.do_lower_case),
            "strip_accents": strip_accents,
            "tokenize_chinese_chars": bool(s.tokenize_chinese_chars),
            "unk_token": s.unk_token,
            "cls_token": s.cls_token,
            "sep_token": s.sep_token,
            "pad_token": s.pad_token,
            "max_input_chars_per_word": int(s.max_input_chars_per_word),
            "added_tokens": added_tokens(inputs),
        },
        "tokenization_goldens": list(inputs.tokenization_goldens),
        "output_goldens": list(inputs.output_goldens),
        "has_fuzz": bool(inputs.fuzz_goldens),
        "unicode": tables,
    }


def module_context(inputs, template: TemplateManifest) -> dict[str, Any]:
    """What every module's templates share (encoder or language model): names, paths, the TFLite file."""
    package_path = inputs.android_package.replace(".", "/")
    static = bool(getattr(inputs, "is_static", False))
    model_file = Path(inputs.static_model if static else inputs.tflite_model)
    facts = template_facts(template)
    if static:  # plain Kotlin: no interpreter to depend on
        facts["dependencies"] = {k: v for k, v in facts["dependencies"].items() if k != "litert"}
    return {
        **facts,
        "static": static,
        "model_asset": template.assets["static_model" if static else "model"],
        "model_file_sha256": sha256_file(model_file),
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
        "tflite_variant": inputs.tflite_variant or ("static" if static else "unknown"),
        "tflite_sha256": sha256_file(model_file),
        "asset_dir": template.path("asset_dir", package=inputs.android_package),
        "kotlin_main": template.path("kotlin_main", package_path=package_path),
        "kotlin_test": template.path("kotlin_test", package_path=package_path),
    }


def provenance(inputs: SdkInputs, template: TemplateManifest, context: dict[str, Any]) -> dict[str, Any]:
    """What made this module, and what the packager needs to know about it (mobilekit-sdk.json)."""
    return module_provenance(
        inputs, template, context, model={"sequence_length": inputs.sequence_length, "length_buckets": inputs.length_buckets},
        assets={**template.assets, "model": context["model_asset"]},
        goldens={"tokenization": len(inputs.tokenization_goldens), "outputs": len(inputs.output_goldens),
                 "buckets": len(inputs.bucket_goldens),
                 "fuzz": max(0, inputs.fuzz_goldens.count("\n") - 1)})


def module_provenance(inputs, template: TemplateManifest, context: dict[str, Any], *, model: dict[str, Any],
                      assets: dict[str, str], goldens: dict[str, int]) -> dict[str, Any]:
    """mobilekit-sdk.json for any module; ``model``, ``assets`` and ``goldens`` are what differs by task."""
    return {
        **provenance_header(inputs, template),
        "package": inputs.android_package,
        "class_name": inputs.android_class_name,
        "maven": {"group_id": inputs.android_group_id, "artifact_id": inputs.android_artifact_id, "version": inputs.version},
        "min_sdk": inputs.android_min_sdk,
        "model": {
            "source_sha256": inputs.model_sha256,
            "kind": "static" if context.get("static") else "tflite",
            "tflite_variant": inputs.tflite_variant,
            "tflite_sha256": context["tflite_sha256"],
            **model,
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
        "assets": assets,
        "dependencies": context["dependencies"],
        "kotlinc": template.settings["kotlinc"],
        "goldens": goldens,
    }


# -- writing ----------------------------------------------------------------------------------------


def environment():
    from mobilekit.sdk.android.filters import FILTERS
    from mobilekit.templating import environment as base_environment

    return base_environment("android", autoescape=False, filters=FILTERS)


def _write_assets(inputs: SdkInputs, template: TemplateManifest, context: dict[str, Any], out_dir: Path) -> None:
    assets = out_dir / template.paths["assets_root"] / context["asset_dir"]
    assets.mkdir(parents=True)
    shutil.copyfile(inputs.static_model if inputs.is_static else inputs.tflite_model, assets / context["model_asset"])
    (assets / template.assets["vocab"]).write_bytes(("\n".join(inputs.vocab) + "\n").encode("utf-8"))
    write_json(assets / template.assets["labels"], list(inputs.labels or []))
    manifest = inputs.model_manifest(platform="android")
    manifest["static_model_sha256" if inputs.is_static else "tflite_sha256"] = context["model_file_sha256"]
    manifest["template_version"] = template.version
    write_json(assets / template.assets["manifest"], manifest)
    if inputs.fuzz_goldens:
        from mobilekit.sdk.golden import FUZZ_FILE

        resources = out_dir / template.paths["test_resources"]
        resources.mkdir(parents=True, exist_ok=True)
        (resources / FUZZ_FILE).write_text(inputs.fuzz_goldens, encoding="utf-8", newline="\n")


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=True) + "\n", encoding="utf-8", newline="\n")

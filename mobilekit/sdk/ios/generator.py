"""SdkInputs -> a Swift package (Package.swift, Sources/<Module>, Tests/<Module>Tests, resources).

Rendered from the versioned templates in ``templates/ios`` (``template.json`` declares the version,
the files and the paths Python fills in). The package records what generated it in
``mobilekit-sdk.json``. Generation is deterministic: the same inputs give the same bytes.

Without a Core ML model (``inputs.coreml_model is None``, e.g. before Core ML conversion is wired
into a build) the package is still generated, builds and passes its tests: it leaves the model
resource out, and the wrapper's initializer throws ``<Class>Error.modelNotBundled`` with a message
saying how to get one. The tokenizer and post-processing, which need no model, work as usual.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mobilekit.config import names
from mobilekit.errors import SdkBuildError
from mobilekit.fsutil import sha256_tree
from mobilekit.sdk.added_tokens import added_tokens
from mobilekit.sdk.inputs import SdkInputs
from mobilekit.sdk.template_manifest import TemplateManifest, load_manifest, provenance_header, write_files

TASKS = ("text-classification", "sentence-embedding")


def load_template() -> TemplateManifest:
    return load_manifest("ios")


def generate_ios(inputs: SdkInputs, out_dir: Path) -> None:
    """Writes the Swift package for ``inputs`` into ``out_dir`` (which must not exist yet).

    All or nothing: the package is assembled in a sibling folder and renamed into place, so a
    failure leaves no half-written ``out_dir``.
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise SdkBuildError(f"{out_dir} already exists", hint="generate into a new folder")
    template = load_template()
    context = build_context(inputs, template)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        _render(template, context, staging)
        _write_resources(inputs, template, context, staging)
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


# -- checks and context ------------------------------------------------------------------------


def check_inputs(inputs: SdkInputs, template: TemplateManifest) -> None:
    """Everything that would make the package fail to compile or behave wrongly, as one clear error."""
    reserved = template.reserved_for(inputs.task)
    problems = name_problems(inputs, reserved)
    if f"{inputs.ios_class_name}Error" in reserved:
        problems.append(f"ios.class_name {inputs.ios_class_name!r}: its error type would clash with the package's own types")
    if inputs.task not in TASKS:
        problems.append(f"task {inputs.task!r} is not one of {', '.join(TASKS)}")
    if inputs.task == "text-classification":
        if not inputs.labels:
            problems.append("a text-classification model needs labels (id2label in its config.json)")
        elif len(set(inputs.labels)) != len(inputs.labels):
            problems.append(f"the labels are not unique: {inputs.labels}")
    if inputs.sequence_length < 2:
        problems.append(f"sequence_length {inputs.sequence_length} leaves no room for [CLS] and [SEP]")
    bad_tokens = [i for i, token in enumerate(inputs.vocab) if "\n" in token or "\r" in token]
    if bad_tokens:
        problems.append(f"vocabulary tokens {bad_tokens[:5]} contain a line break, which vocab.txt cannot hold")
    settings = inputs.tokenizer
    vocab = set(inputs.vocab)
    for token in (settings.unk_token, settings.cls_token, settings.sep_token, settings.pad_token):
        if token not in vocab:
            problems.append(f"the special token {token!r} is not in the vocabulary")
    unknown_inputs = set(inputs.input_names) - {"input_ids", "attention_mask", "token_type_ids"}
    if unknown_inputs:
        problems.append(f"the model has inputs the Swift wrapper cannot feed: {sorted(unknown_inputs)}")
    if inputs.coreml_model is not None and not (Path(inputs.coreml_model) / "Manifest.json").is_file():
        problems.append(f"{inputs.coreml_model} is not a Core ML package (no Manifest.json)")
    functions = inputs.coreml_bucket_functions
    if functions and max(functions) != inputs.sequence_length:
        problems.append(f"the Core ML length buckets {sorted(functions)} do not end at sequence_length {inputs.sequence_length}")
    if functions and not inputs.bucket_goldens:
        problems.append("the Core ML model has length buckets but there are no bucket goldens to test them with")
    if problems:
        raise SdkBuildError("cannot generate the Swift package: " + "; ".join(problems),
                            hint="fix the [ios] names in mobilekit.toml, or the model folder")


def name_problems(inputs, reserved: frozenset[str]) -> list[str]:
    """What is wrong with the [ios] module and class names (any task's package)."""
    problems = []
    if problem := names.swift_module_problem(inputs.ios_module):
        problems.append(f"ios.module {inputs.ios_module!r}: {problem}")
    if problem := names.type_name_problem(inputs.ios_class_name):
        problems.append(f"ios.class_name {inputs.ios_class_name!r}: {problem}")
    for key, value in (("ios.module", inputs.ios_module), ("ios.class_name", inputs.ios_class_name)):
        if value in reserved:
            problems.append(f"{key} {value!r} is the name of a type the Swift package defines itself")
    return problems


def build_context(inputs: SdkInputs, template: TemplateManifest) -> dict[str, Any]:

    check_inputs(inputs, template)
    module, class_name = inputs.ios_module, inputs.ios_class_name
    tables = json.loads((template.root / template.settings["unicode_tables"]).read_text(encoding="utf-8"))
    settings = inputs.tokenizer
    strip_accents = settings.do_lower_case if settings.strip_accents is None else bool(settings.strip_accents)
    added = added_tokens(inputs)
    model_resource = template.path("model", module=module) if inputs.coreml_model is not None else None
    relative_model = str(Path(model_resource).relative_to(f"Sources/{module}")) if model_resource else None
    return {
        "header": f"Generated by mobilekit {inputs.mobilekit_version} (iOS template {template.version}). Do not edit.",
        "template_version": template.version,
        "mobilekit_version": inputs.mobilekit_version,
        "project_name": inputs.project_name,
        "version": inputs.version,
        "module": module,
        "class_name": class_name,
        "error_type": f"{class_name}Error",
        # Lines wrap wherever a generated name appears, but a user's type name has no length limit:
        # the lint limit grows with it so a long name never turns `swift-format lint` red.
        "line_length": 120 + max(0, len(class_name) - 20),
        "task": inputs.task,
        "static": inputs.is_static,
        "is_classifier": inputs.task == "text-classification",
        "labels": list(inputs.labels or []),
        "normalize": bool(inputs.normalize),
        "sequence_length": inputs.sequence_length,
        "input_names": list(inputs.input_names),
        "output_name": inputs.output_name,
        "tokenizer": settings,
        "strip_accents": strip_accents,
        "added_tokens": added,
        "model_resource": relative_model,  # relative to the target folder, as Package.swift wants it
        "model_resource_name": Path(relative_model).stem if relative_model else None,
        "coreml_variant": inputs.coreml_variant if inputs.coreml_model is not None else None,
        "coreml_sha256": sha256_tree(inputs.coreml_model) if inputs.coreml_model is not None else None,
        "tokenization_count": len(inputs.tokenization_goldens),
        "output_count": len(inputs.output_goldens),
        "has_fuzz": bool(inputs.fuzz_goldens),
        "fuzz_count": max(0, inputs.fuzz_goldens.count("\n") - 1),
        "unicode": tables,
        **_bucket_context(inputs),
    }


IOS16 = ("iOS 16.0, macOS 13.0, *", "iOS 16 / macOS 13")
IOS18 = ("iOS 18.0, macOS 15.0, *", "iOS 18 / macOS 15")  # multifunction packages (length buckets), int4 weights


def _bucket_context(inputs: SdkInputs) -> dict[str, Any]:
    """The Core ML model's length buckets, and the OS versions its Core ML code needs: iOS 18 for
    a multifunction package or a variant whose program needs it (the registry's ``coreml_target``)."""
    from mobilekit import variants as _v

    functions = dict(sorted(inputs.coreml_bucket_functions.items())) if inputs.coreml_model is not None else {}
    variant = _v.find(_v.COREML, inputs.coreml_variant) if inputs.coreml_model is not None else None
    needs_ios18 = bool(functions) or (variant is not None and variant.coreml_target == "iOS18")
    availability, availability_text = IOS18 if needs_ios18 else IOS16
    return {
        "length_buckets": sorted(functions) or [inputs.sequence_length],
        "bucket_functions": functions,
        "bucket_goldens": inputs.bucket_goldens if functions else [],
        "availability": availability,
        "availability_text": availability_text,
    }


# -- writing -----------------------------------------------------------------------------------


def environment():
    from mobilekit.sdk.ios.filters import FILTERS
    from mobilekit.templating import environment as base_environment

    return base_environment("ios", autoescape=False, filters=FILTERS)  # Swift, not HTML: escaping is the filters' job


def _render(template: TemplateManifest, context: dict[str, Any], root: Path) -> None:
    from mobilekit.llm.sdk_sources import swift_test_source

    module = context["module"]
    write_files(template, context, root, lambda path, output: swift_test_source(path, module) if output.startswith("Tests/")
                else path.read_text(encoding="utf-8"), environment())


def _write_resources(inputs: SdkInputs, template: TemplateManifest, context: dict[str, Any], root: Path) -> None:
    module = context["module"]
    vocab = root / template.path("vocab", module=module)
    vocab.parent.mkdir(parents=True, exist_ok=True)
    # From ``inputs.vocab`` (id order is the contract), one token per "\n"-terminated line.
    vocab.write_bytes(("\n".join(inputs.vocab) + "\n").encode("utf-8"))
    manifest = inputs.model_manifest(platform="ios")
    manifest["variant"] = context["coreml_variant"]
    (root / template.path("manifest", module=module)).write_text(_json(manifest), encoding="utf-8", newline="\n")
    if inputs.coreml_model is not None:
        shutil.copytree(inputs.coreml_model, root / template.path("model", module=module))
    if inputs.is_static:
        shutil.copyfile(inputs.static_model, root / template.path("static_model", module=module))
    goldens = root / template.path("goldens", module=module)
    goldens.parent.mkdir(parents=True, exist_ok=True)
    goldens.write_text(_json(_goldens(inputs, context["bucket_goldens"])), encoding="utf-8", newline="\n")
    if inputs.fuzz_goldens:
        from mobilekit.sdk.golden import FUZZ_FILE

        (goldens.parent / FUZZ_FILE).write_text(inputs.fuzz_goldens, encoding="utf-8", newline="\n")
    provenance = {
        **provenance_base(inputs, template, context["coreml_variant"], context["coreml_sha256"]),
        "vocab_tokens": len(inputs.vocab),
        "unicode_tables_from_tokenizers": context["unicode"]["tokenizers_version"],
        "availability": context["availability"],
        "length_buckets": context["length_buckets"],
    }
    if inputs.is_static:
        provenance.update(static=True, static_model_sha256=sha256_tree(inputs.static_model))
    (root / template.path("provenance", module=module)).write_text(_json(provenance), encoding="utf-8", newline="\n")


def provenance_base(inputs, template: TemplateManifest, coreml_variant: str | None, coreml_sha256: str | None) -> dict[str, Any]:
    """The part of mobilekit-sdk.json every Swift package has; the packager reads module, class_name and the header."""
    return {
        **provenance_header(inputs, template),
        "module": inputs.ios_module,
        "class_name": inputs.ios_class_name,
        "model_sha256": inputs.model_sha256,
        "coreml_variant": coreml_variant,
        "coreml_sha256": coreml_sha256,
    }


def _goldens(inputs: SdkInputs, bucket_goldens: list) -> dict[str, Any]:
    """goldens.json; ``bucket_goldens``: the context's (none unless the Core ML model has buckets)."""
    outputs = []
    for golden in inputs.output_goldens:
        entry: dict[str, Any] = {"text": golden.text, "rawOutput": [float(v) for v in golden.raw_output]}
        if inputs.task == "text-classification":
            entry["expectedLabels"] = [{"name": name, "probability": float(p)} for name, p in golden.expected]
        else:
            entry["expectedEmbedding"] = [float(v) for v in golden.expected]
        outputs.append(entry)
    buckets = [
        {"text": g.text, "tokenCount": g.token_count, "bucket": g.bucket, "inputIds": g.input_ids,
         "attentionMask": g.attention_mask, "tokenTypeIds": g.token_type_ids}
        for g in bucket_goldens
    ]
    return {
        "sequenceLength": inputs.sequence_length,
        "labels": inputs.labels,
        "lengthBuckets": buckets,
        "tokenization": [
            {"text": g.text, "inputIds": g.input_ids, "attentionMask": g.attention_mask, "tokenTypeIds": g.token_type_ids}
            for g in inputs.tokenization_goldens
        ],
        "outputs": outputs,
    }


def _json(value: Any) -> str:
    # ASCII only: every text survives any editor or zip tool byte for byte.
    return json.dumps(value, indent=1, ensure_ascii=True, sort_keys=True) + "\n"

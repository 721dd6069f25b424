"""SdkInputs -> a Swift package (Package.swift, Sources/<Module>, Tests/<Module>Tests, resources).

Rendered from the versioned templates in ``templates/ios`` (``template.json`` declares the version,
the files and the paths Python fills in). The package records what generated it in
``mobilekit-generated.json``. Generation is deterministic: the same inputs give the same bytes.

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
from mobilekit.templating import TEMPLATES_ROOT

TASKS = ("text-classification", "sentence-embedding")
PROVENANCE_FILE = "mobilekit-generated.json"


@dataclass(frozen=True)
class IosTemplate:
    """templates/ios, checked: its version, the files it renders and where resources go."""

    root: Path
    version: str
    files: dict[str, str]  # template path (relative to root) -> output path pattern
    paths: dict[str, Any]
    unicode_tables: Path
    reserved_type_names: frozenset[str]

    def path(self, key: str, module: str) -> str:
        return self.paths[key].format(module=module)


def load_template(root: Path = TEMPLATES_ROOT / "ios") -> IosTemplate:
    """Reads and checks ``template.json``; a broken checkout fails here, not halfway through rendering."""
    spec_file = root / "template.json"
    try:
        spec = json.loads(spec_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SdkBuildError(f"mobilekit's iOS template description is unreadable: {spec_file}: {e}",
                            hint="reinstall mobilekit or restore templates/ios from git") from e
    missing_keys = [k for k in ("version", "files", "paths", "unicode_tables", "reserved_type_names") if k not in spec]
    missing_files = [f for f in spec.get("files", {}) if not (root / f).is_file()]
    tables = root / spec.get("unicode_tables", "")
    if missing_keys or missing_files or not tables.is_file():
        raise SdkBuildError(
            f"mobilekit's iOS templates are incomplete (missing keys {missing_keys}, files {missing_files}"
            f"{'' if tables.is_file() else ', ' + str(tables)})",
            hint="reinstall mobilekit or restore templates/ios from git",
        )
    return IosTemplate(root, str(spec["version"]), dict(spec["files"]), dict(spec["paths"]), tables,
                       frozenset(spec["reserved_type_names"]))


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


def check_inputs(inputs: SdkInputs, template: IosTemplate) -> None:
    """Everything that would make the package fail to compile or behave wrongly, as one clear error."""
    problems = name_problems(inputs, template.reserved_type_names)
    if f"{inputs.ios_class_name}Error" in template.reserved_type_names:
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


def build_context(inputs: SdkInputs, template: IosTemplate) -> dict[str, Any]:
    from mobilekit.sdk.ios.unicode_tables import CLASSES, range_lines

    check_inputs(inputs, template)
    module, class_name = inputs.ios_module, inputs.ios_class_name
    tables = json.loads(template.unicode_tables.read_text(encoding="utf-8"))
    swift_names = {"removed": "removed", "whitespace": "whitespace", "nonspacing_marks": "nonspacingMarks",
                   "punctuation": "punctuation", "chinese": "chinese"}
    settings = inputs.tokenizer
    strip_accents = settings.do_lower_case if settings.strip_accents is None else bool(settings.strip_accents)
    added = added_tokens(inputs)
    model_resource = template.path("model", module) if inputs.coreml_model is not None else None
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
        "unicode_tables": [(swift_names[name], range_lines(tables["classes"][name])) for name in CLASSES],
    }


# -- writing -----------------------------------------------------------------------------------


def _environment(template: IosTemplate):
    import jinja2

    from mobilekit.sdk.ios.filters import FILTERS

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template.root)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Swift, not HTML: escaping is the filters' job
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env


def _render(template: IosTemplate, context: dict[str, Any], root: Path) -> None:
    env = _environment(template)
    for source, target in sorted(template.files.items()):
        path = root / target.format(module=context["module"], class_name=context["class_name"])
        path.parent.mkdir(parents=True, exist_ok=True)
        text = env.get_template(source).render(**context)
        path.write_text(text, encoding="utf-8", newline="\n")


def _write_resources(inputs: SdkInputs, template: IosTemplate, context: dict[str, Any], root: Path) -> None:
    module = context["module"]
    vocab = root / template.path("vocab", module)
    vocab.parent.mkdir(parents=True, exist_ok=True)
    # From ``inputs.vocab`` (id order is the contract), one token per "\n"-terminated line.
    vocab.write_bytes(("\n".join(inputs.vocab) + "\n").encode("utf-8"))
    manifest = inputs.model_manifest(platform="ios")
    manifest["variant"] = context["coreml_variant"]
    (root / template.path("manifest", module)).write_text(_json(manifest), encoding="utf-8", newline="\n")
    if inputs.coreml_model is not None:
        shutil.copytree(inputs.coreml_model, root / template.path("model", module))
    goldens = root / template.path("goldens", module)
    goldens.parent.mkdir(parents=True, exist_ok=True)
    goldens.write_text(_json(_goldens(inputs)), encoding="utf-8", newline="\n")
    if inputs.fuzz_goldens:
        from mobilekit.sdk.golden import FUZZ_FILE

        (goldens.parent / FUZZ_FILE).write_text(inputs.fuzz_goldens, encoding="utf-8", newline="\n")
    provenance = {
        **provenance_base(inputs, template.version, context["coreml_variant"], context["coreml_sha256"]),
        "vocab_tokens": len(inputs.vocab),
        "unicode_tables_from_tokenizers": context["unicode"]["tokenizers_version"],
    }
    (root / template.path("provenance", module)).write_text(_json(provenance), encoding="utf-8", newline="\n")


def provenance_base(inputs, template_version: str, coreml_variant: str | None, coreml_sha256: str | None) -> dict[str, Any]:
    """The part of mobilekit-generated.json every package has; the packager reads module, version, class_name, task."""
    return {
        "generator": "mobilekit",
        "mobilekit_version": inputs.mobilekit_version,
        "template": "ios",
        "template_version": template_version,
        "project": inputs.project_name,
        "version": inputs.version,
        "module": inputs.ios_module,
        "class_name": inputs.ios_class_name,
        "task": inputs.task,
        "model_sha256": inputs.model_sha256,
        "coreml_variant": coreml_variant,
        "coreml_sha256": coreml_sha256,
    }


def _goldens(inputs: SdkInputs) -> dict[str, Any]:
    outputs = []
    for golden in inputs.output_goldens:
        entry: dict[str, Any] = {"text": golden.text, "rawOutput": [float(v) for v in golden.raw_output]}
        if inputs.task == "text-classification":
            entry["expectedLabels"] = [{"name": name, "probability": float(p)} for name, p in golden.expected]
        else:
            entry["expectedEmbedding"] = [float(v) for v in golden.expected]
        outputs.append(entry)
    return {
        "sequenceLength": inputs.sequence_length,
        "labels": inputs.labels,
        "tokenization": [
            {"text": g.text, "inputIds": g.input_ids, "attentionMask": g.attention_mask, "tokenTypeIds": g.token_type_ids}
            for g in inputs.tokenization_goldens
        ],
        "outputs": outputs,
    }


def _json(value: Any) -> str:
    # ASCII only: every text survives any editor or zip tool byte for byte.
    return json.dumps(value, indent=1, ensure_ascii=True, sort_keys=True) + "\n"

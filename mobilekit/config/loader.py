"""mobilekit.toml (+ command-line overrides) -> a validated, frozen ``Config``.

Every problem names the key, the bad value and what would be valid, and raises ``ConfigError``.
"""

from __future__ import annotations

import difflib
import json
import tomllib
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Iterable

from mobilekit import buckets as _buckets
from mobilekit import variants as _v
from mobilekit.buckets import AUTO as AUTO_BUCKETS
from mobilekit.config import names
from mobilekit.config.schema import (
    ENCODER_COREML_VARIANTS,
    INT4_BLOCK_SIZES,
    SECTIONS,
    Config,
)
from mobilekit.errors import ConfigError
from mobilekit.scale.compute import check_compute

CONFIG_FILE_NAME = "mobilekit.toml"


def load_config(path: Path, overrides: Iterable[str] = ()) -> Config:
    """Reads ``path`` (a mobilekit.toml, or a folder holding one) and applies ``section.key=value`` overrides."""
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_FILE_NAME
    if not path.is_file():
        raise ConfigError(
            f"no config file at {path}",
            hint=f"run `mobilekit init MODEL_FOLDER` to write one, or pass --config PATH/{CONFIG_FILE_NAME}",
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})", hint="save the file as UTF-8") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}", hint="check the quoting and brackets on that line") from e
    for override in overrides:
        _apply_override(raw, override)
    return build_config(raw, root=path.parent.resolve(), source=path)


def build_config(raw: dict, *, root: Path, source: Path | None = None) -> Config:
    """Validates a parsed TOML mapping into a ``Config``; relative paths resolve against ``root``."""
    where = source.name if source else CONFIG_FILE_NAME
    unknown = set(raw) - set(SECTIONS)
    if unknown:
        bad = sorted(unknown)[0]
        raise ConfigError(
            f"{where}: unknown section [{bad}]{_did_you_mean(bad, SECTIONS)}",
            hint=f"valid sections: {', '.join(SECTIONS)}",
        )
    sections = {}
    for section, cls in SECTIONS.items():
        table = raw.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: `{section}` must be a table ([{section}]), not {_type_name(table)}")
        sections[section] = _build_section(section, cls, table, root, where)
    config = Config(**sections, root=root, source=source)
    config = _derive_names(config, where)
    _check_consistency(config, where)
    return config


# -- overrides ---------------------------------------------------------------------------------


def _apply_override(raw: dict, override: str) -> None:
    """``section.key=value``: value is read as TOML (numbers, booleans, lists), else as a string."""
    key, sep, text = override.partition("=")
    section, dot, name = key.strip().partition(".")
    if not sep or not dot or not section or not name:
        raise ConfigError(
            f"override {override!r} is not of the form section.key=value",
            hint='for example --set model.sequence_length=64 or --set android.package=com.acme.reviews',
        )
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()
    table = raw.setdefault(section, {})
    if not isinstance(table, dict):
        raise ConfigError(f"override {override!r}: `{section}` is not a section")
    table[name] = value


# -- one section -------------------------------------------------------------------------------


def _build_section(section: str, cls: type, table: dict, root: Path, where: str):
    known = {f.name: f for f in fields(cls)}
    for key in table:
        if key not in known:
            raise ConfigError(
                f"{where}: unknown key {section}.{key}{_did_you_mean(key, known)}",
                hint=f"valid keys in [{section}]: {', '.join(known)}",
            )
    values = {}
    for name, f in known.items():
        meta = f.metadata
        if name not in table:
            if meta["required"]:
                example = meta.get("example")
                raise ConfigError(
                    f"{where}: missing required key {section}.{name} ({meta['help']})",
                    hint=f"add under [{section}]: {name} = {_toml_literal(example)}",
                )
            default = f.default
            if meta["kind"] == "path" and default is not None:
                default = (root / default).resolve()
            values[name] = default
            continue
        values[name] = _check_value(f"{section}.{name}", table[name], meta, root, where)
    return cls(**values)


def _check_value(key: str, value: Any, meta: dict, root: Path, where: str) -> Any:
    kind = meta["kind"]

    def fail(expected: str, hint: str | None = None):
        raise ConfigError(f"{where}: {key} = {_toml_literal(value)} is invalid: {expected}", hint=hint or meta["help"])

    if kind == "bool":
        if not isinstance(value, bool):
            fail("expected true or false")
        return value
    if kind in ("int", "float"):
        ok = isinstance(value, int) and not isinstance(value, bool)
        if kind == "float":
            ok = ok or isinstance(value, float)
        if not ok:
            fail(f"expected {'an integer' if kind == 'int' else 'a number'}, got {_type_name(value)}")
        if meta["min"] is not None and value < meta["min"]:
            fail(f"must be at least {meta['min']}")
        if meta["max"] is not None and value > meta["max"]:
            fail(f"must be at most {meta['max']}")
        return float(value) if kind == "float" else value
    if kind == "choice":
        if value not in meta["choices"]:
            fail(f"expected one of {', '.join(map(repr, meta['choices']))}{_did_you_mean(str(value), meta['choices'])}")
        return value
    if kind == "length_buckets":
        if value == AUTO_BUCKETS:
            return value
        if not isinstance(value, list) or any(not isinstance(v, int) or isinstance(v, bool) for v in value):
            fail(f'expected a list of integers or "{AUTO_BUCKETS}", got {_type_name(value)}', hint='for example [16, 32, 64, 128] or "auto"')
        return tuple(value)
    if kind in ("list[str]", "list[int]", "list[choice]"):
        if not isinstance(value, list):
            fail(f"expected a list, got {_type_name(value)}")
        item_type = int if kind == "list[int]" else str
        for item in value:
            if not isinstance(item, item_type) or isinstance(item, bool):
                fail(f"every item must be {'an integer' if item_type is int else 'a string'}; {_toml_literal(item)} is not")
            if kind == "list[choice]" and item not in meta["choices"]:
                fail(f"{item!r} is not one of {', '.join(map(repr, meta['choices']))}{_did_you_mean(item, meta['choices'])}")
        if len(set(value)) != len(value):
            fail("items must not repeat")
        return tuple(value)
    if kind in ("path", "file", "dir"):
        if not isinstance(value, str) or not value.strip():
            fail(f"expected a path string, got {_type_name(value)}")
        resolved = (root / Path(value).expanduser()).resolve()
        if kind == "file" and not resolved.is_file():
            fail(f"no file at {resolved}", hint="check the path (relative paths start at the folder of mobilekit.toml)")
        if kind == "dir" and resolved.is_file() and resolved.suffix.lower() == ".gguf":
            from mobilekit.llm.model_folder import gguf_error

            raise gguf_error(resolved, key=f"{where}: {key}")
        if kind == "dir" and not resolved.is_dir():
            fail(f"no folder at {resolved}", hint="check the path (relative paths start at the folder of mobilekit.toml)")
        return resolved
    if not isinstance(value, str):
        fail(f"expected a string, got {_type_name(value)}")
    checks = {
        "kotlin_package": names.kotlin_package_problem,
        "type_name": names.type_name_problem,
        "swift_module": names.swift_module_problem,
        "maven_id": names.maven_id_problem,
    }
    if kind in checks and (problem := checks[kind](value)):
        fail(problem)
    return value


# -- derived names and cross-key rules ---------------------------------------------------------


def _derive_names(config: Config, where: str) -> Config:
    """Fills in SDK names the user left out, and checks the derived names as strictly as given ones."""
    base = names.pascal_case(config.project.name)
    suffix = {"text-classification": "Classifier", "text-generation": "Generator"}.get(config.model.task, "Embedder")
    android, ios = config.android, config.ios
    derived = {}
    if android.package is None:
        segment = names.package_segment(config.project.name)
        derived["android.package"] = f"com.example.{segment}"
    if android.class_name is None:
        derived["android.class_name"] = f"{base}{suffix}"
    if ios.module is None:
        derived["ios.module"] = f"{base}Kit"
    if ios.class_name is None:
        derived["ios.class_name"] = derived.get("android.class_name", android.class_name)
    checks = {
        "android.package": names.kotlin_package_problem,
        "android.class_name": names.type_name_problem,
        "ios.module": names.swift_module_problem,
        "ios.class_name": names.type_name_problem,
    }
    for key, value in derived.items():
        if problem := checks[key](value):
            raise ConfigError(
                f"{where}: cannot derive {key} from project.name = {config.project.name!r}: {value!r} is invalid because {problem}",
                hint=f"set {key} explicitly in [{key.split('.')[0]}]",
            )
    android = replace(
        android,
        package=derived.get("android.package", android.package),
        class_name=derived.get("android.class_name", android.class_name),
    )
    android = replace(
        android,
        group_id=android.group_id or android.package,
        artifact_id=android.artifact_id or (names.kebab_case(config.project.name) or "model"),
    )
    ios = replace(ios, module=derived.get("ios.module", ios.module), class_name=derived.get("ios.class_name", ios.class_name))
    convert = config.convert
    if convert.tflite is None:
        has_calibration_text = config.data.path is not None or config.verify.texts_path is not None
        # The registry's defaults: every encoder variant (those needing calibration only with
        # text to calibrate on); text generation: float32, dynamic-int8, int4.
        variants = _v.default_names(_v.TFLITE, _v.kind_of(config.model.task), calibration_text=has_calibration_text)
        convert = replace(convert, tflite=variants)
        config = replace(config, convert=convert)
    if ios.module == ios.class_name:
        raise ConfigError(
            f"{where}: ios.module and ios.class_name are both {ios.module!r}",
            hint="Swift cannot tell a module from a type of the same name; give them different names",
        )
    return replace(config, android=android, ios=ios)


def _check_static_student(config: Config, where: str) -> None:
    """distill.student = "static": an encoder, and none of the options that shape a transformer student."""
    d = config.distill
    if d.student != "static":
        for key in ("static_dimensions", "static_train_table"):
            if getattr(d, key) not in (None, False):
                raise ConfigError(f"{where}: distill.{key} is set but distill.student is {d.student!r}",
                                  hint=f"set distill.student = \"static\", or remove distill.{key}")
        return
    if not d.enabled:
        raise ConfigError(f"{where}: distill.student = \"static\" but distill.enabled = false", hint="set distill.enabled = true to distill the static student")
    if config.model.task == "text-generation":
        raise ConfigError(f"{where}: distill.student = \"static\" is for encoders (text-classification, sentence-embedding)",
                          hint="a causal language model cannot be a static table; remove distill.student")
    clashing = [key for key, value in (("trim_vocabulary", d.trim_vocabulary), ("hidden_size", d.hidden_size),
                                       ("intermediate_size", d.intermediate_size), ("layers", d.layers), ("heads", d.heads))
                if value not in (None, False)]
    if d.embedding_table == "kmeans":
        clashing.append("embedding_table = \"kmeans\"")
    if clashing:
        raise ConfigError(f"{where}: distill.student = \"static\" has no layers to shape, but {', '.join('distill.' + c for c in clashing)} is set",
                          hint="remove those options; embedding_table = \"int8-rows\" stores the static table as int8 rows")


def _check_consistency(config: Config, where: str) -> None:
    model, data = config.model, config.data
    if config.build_dir.exists() and not config.build_dir.is_dir():
        raise ConfigError(f"{where}: project.build_dir {config.build_dir} is a file, not a folder",
                          hint="point project.build_dir (or --build-dir) at a folder; it is created when missing")
    if model.labels is not None:
        if model.task != "text-classification":
            raise ConfigError(f"{where}: model.labels is set but model.task is {model.task!r}", hint="labels only apply to text-classification; remove them")
        if len(model.labels) < 2:
            raise ConfigError(f"{where}: model.labels = {list(model.labels)!r} needs at least two classes")
        for label in model.labels:
            if not label.strip():
                raise ConfigError(f"{where}: model.labels contains an empty label", hint="every class needs a visible name")
    if config.finetune.enabled and data.path is None:
        raise ConfigError(f"{where}: finetune.enabled = true needs labelled data", hint="set data.path to a .csv, .tsv or .jsonl file with text and label columns")
    if config.finetune.enabled and model.task == "sentence-embedding":
        raise ConfigError(f"{where}: fine-tuning is only supported for text-classification and text-generation, not {model.task!r}", hint="set finetune.enabled = false")
    if config.distill.enabled and data.path is None and data.unlabelled_path is None:
        raise ConfigError(f"{where}: distill.enabled = true needs text to distill on", hint="set data.path or data.unlabelled_path")
    if config.distill.embedding_table != "full" and config.distill.trim_vocabulary:
        raise ConfigError(f"{where}: distill.embedding_table = {config.distill.embedding_table!r} and distill.trim_vocabulary = true "
                          "both shrink the word embeddings", hint="choose one: the compressed table keeps the vocabulary, trimming cuts it")
    if config.distill.embedding_table != "full" and model.task == "text-generation":
        raise ConfigError(f"{where}: distill.embedding_table = {config.distill.embedding_table!r} is for encoders",
                          hint="text-generation models shrink with int4/int8 variants; remove distill.embedding_table")
    _check_static_student(config, where)
    if config.distill.layers is not None and any(layer < 0 for layer in config.distill.layers):
        raise ConfigError(f"{where}: distill.layers = {list(config.distill.layers)} has a negative layer index", hint="layers are 0-based teacher layer indices")
    if config.distill.hidden_size is not None and model.task == "sentence-embedding":
        raise ConfigError(
            f"{where}: distill.hidden_size = {config.distill.hidden_size} is only supported for text-classification",
            hint="a narrower sentence encoder's embeddings cannot be compared with the teacher's; remove distill.hidden_size",
        )
    _check_variants_for_task(config, where)
    _check_length_buckets(config, where)
    calibrated = [n for n in config.convert.tflite if (v := _v.find(_v.TFLITE, n)) is not None and v.needs_calibration]
    if calibrated and data.path is None and config.verify.texts_path is None:
        raise ConfigError(
            f"{where}: convert.tflite asks for {', '.join(calibrated)}, which needs calibration text, but neither data.path nor verify.texts_path is set",
            hint=f"point data.path (or verify.texts_path) at real task text, or remove {', '.join(map(json.dumps, calibrated))} from convert.tflite",
        )
    if model.task == "text-generation":
        _check_generation(config, where)
    check_compute(config, where)
    if data.validation_fraction + data.test_fraction >= 0.9:
        raise ConfigError(
            f"{where}: data.validation_fraction + data.test_fraction = {data.validation_fraction + data.test_fraction:g} leaves too little to train on",
            hint="keep their sum below 0.9",
        )


def _check_variants_for_task(config: Config, where: str) -> None:
    """Each kind of model has its own quantization recipes; a variant of the other kind is an error."""
    kind = _v.kind_of(config.model.task)
    llm = kind == _v.GENERATION
    allowed_tflite = _v.names(_v.TFLITE, kind)
    for variant in config.convert.tflite:
        if variant not in allowed_tflite:
            why = (f"{_v.FULL_INT8} calibrates activations once, which a KV cache's growing range does not survive; "
                   f"use {_v.DYNAMIC_INT8} or {_v.INT4}" if variant == _v.FULL_INT8 else
                   f"{variant} is for encoders; use {_v.DYNAMIC_INT8} or {_v.INT4}" if llm else
                   f"{_v.INT4} is block-wise weight quantization for text-generation models")
            raise ConfigError(f"{where}: convert.tflite = {list(config.convert.tflite)} has {variant!r}, not available for {config.model.task}",
                              hint=f"{why}; valid here: {', '.join(allowed_tflite)}")
    if only := [v for v in config.convert.tflite if v in _v.LITERT_TORCH_ONLY]:
        if config.convert.tflite_route != "litert-torch":
            raise ConfigError(f"{where}: convert.tflite has {', '.join(map(repr, only))}, which only the litert-torch route makes",
                              hint='set convert.tflite_route = "litert-torch" (the default), or remove it from convert.tflite')
    if not llm:
        for variant in config.convert.coreml:
            if variant not in _v.names(_v.COREML, kind):
                raise ConfigError(f"{where}: convert.coreml has {variant!r}, which is for text-generation models",
                                  hint=f"valid for {config.model.task}: {', '.join(ENCODER_COREML_VARIANTS)}")


def _check_length_buckets(config: Config, where: str) -> None:
    """model.length_buckets: encoders only; a valid list (or "auto" with task text); litert-torch for several."""
    model, value = config.model, config.model.length_buckets
    if value is None:
        return
    shown = _toml_literal(value if isinstance(value, str) else list(value))
    if model.task == "text-generation":
        raise ConfigError(f"{where}: model.length_buckets = {shown} is for encoders, not text-generation",
                          hint="text-generation has prefill signatures instead: generation.prefill_lengths")
    if value == AUTO_BUCKETS:
        if config.data.path is None and config.verify.texts_path is None:
            raise ConfigError(f'{where}: model.length_buckets = "auto" needs task text to measure token counts on',
                              hint="set data.path or verify.texts_path, or list the buckets, e.g. [16, 32, 64, 128]")
    elif problem := _buckets.problem(value, model.sequence_length):
        raise ConfigError(f"{where}: model.length_buckets = {shown} is invalid: {problem}",
                          hint=f"for example [16, 32, 64, {model.sequence_length}] (ascending, ending at model.sequence_length)")
    several = value == AUTO_BUCKETS or len(value) > 1
    if several and config.convert.tflite and config.convert.tflite_route != "litert-torch":
        raise ConfigError(f"{where}: model.length_buckets = {shown} needs convert.tflite_route = \"litert-torch\"",
                          hint="onnx2tf writes one signature per file; use the litert-torch route or remove model.length_buckets")


def _check_generation(config: Config, where: str) -> None:
    gen = config.generation
    if not gen.prefill_lengths:
        raise ConfigError(f"{where}: generation.prefill_lengths is empty", hint="give at least one prompt chunk size, e.g. [64]")
    for length in gen.prefill_lengths:
        if not 1 <= length <= gen.context_length:
            raise ConfigError(f"{where}: generation.prefill_lengths has {length}, outside 1..context_length ({gen.context_length})",
                              hint="a prefill chunk must fit the KV cache; lower it or raise generation.context_length")
    if gen.int4_block_size not in INT4_BLOCK_SIZES:
        raise ConfigError(f"{where}: generation.int4_block_size = {gen.int4_block_size} is not supported",
                          hint=f"LiteRT's block-wise int4 kernels take {', '.join(map(str, INT4_BLOCK_SIZES))}")
    if config.distill.hidden_size is not None:
        raise ConfigError(f"{where}: distill.hidden_size is not supported for text-generation",
                          hint="a causal LM student keeps the teacher's width; shrink it with distill.layers and distill.intermediate_size")
    if config.distill.heads is not None:
        raise ConfigError(f"{where}: distill.heads is not supported for text-generation",
                          hint="attention-head pruning is for encoders; shrink a causal LM with distill.layers and distill.intermediate_size")
    bench = config.bench
    if (bench.host or bench.emulator) and bench.prompt_tokens + bench.decode_tokens > gen.context_length:
        raise ConfigError(
            f"{where}: bench.prompt_tokens + bench.decode_tokens = {bench.prompt_tokens + bench.decode_tokens} "
            f"does not fit generation.context_length = {gen.context_length}",
            hint="the benchmark prompt and its reply must fit the KV cache: lower them or raise generation.context_length")


# -- message helpers ---------------------------------------------------------------------------


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def _toml_literal(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{...}"
    return repr(value)

"""`mobilekit init`: a commented mobilekit.toml, written from the schema so it never drifts."""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path

from mobilekit.config.loader import _toml_literal
from mobilekit.config.schema import SECTIONS
from mobilekit.errors import ModelInputError

_SECTION_HELP = {
    "project": "Names and where the build goes.",
    "model": "The Hugging Face model to ship.",
    "data": "Task text: fine-tuning, distillation, int8 calibration and accuracy checks use it.",
    "finetune": "Optional: fine-tune the model on [data] first (full fine-tuning for encoders, LoRA for text-generation).",
    "generation": "text-generation only: the on-device KV cache and the prefill signatures.",
    "distill": "Optional: distill a smaller student.",
    "compute": "How finetune and distill train: processes, machines, backend, precision, checkpoints (docs/scale.md).",
    "export": "torch -> ONNX (encoders); text-generation: the KV-cache decoder, checked against the full forward.",
    "convert": "ONNX -> TensorFlow Lite and Core ML variants.",
    "verify": "Every variant is checked against the original before it ships.",
    "bench": "Benchmarks: host CPU, ARM64 emulator.",
    "android": "The generated Kotlin library (.aar).",
    "ios": "The generated Swift package.",
}


def inspect_model_folder(model_dir: Path) -> dict:
    """Task and labels as the folder's config.json describes them."""
    config_file = model_dir / "config.json"
    if not config_file.is_file():
        raise ModelInputError(
            f"{model_dir} has no config.json, so it is not a Hugging Face model folder",
            hint="point at the folder `save_pretrained` wrote (config.json, weights, tokenizer files)",
        )
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ModelInputError(f"{config_file} is not valid JSON: {e}") from e
    architectures = config.get("architectures") or []
    classifier = any("SequenceClassification" in a for a in architectures)
    if any(a.endswith("ForCausalLM") or a.endswith("LMHeadModel") for a in architectures):
        return {"task": "text-generation", "labels": None}
    labels = None
    if classifier and isinstance(config.get("id2label"), dict):
        id2label = config["id2label"]
        labels = [id2label[k] for k in sorted(id2label, key=lambda k: int(k))]
    return {"task": "text-classification" if classifier else "sentence-embedding", "labels": labels}


def render_init(*, model_dir: Path, config_path: Path, name: str, task: str, labels: list[str] | None) -> str:
    relative_model = os.path.relpath(model_dir.resolve(), config_path.parent.resolve())
    given = {
        ("project", "name"): name,
        ("model", "path"): relative_model,
        ("model", "task"): task,
    }
    if labels:
        given[("model", "labels")] = labels
    lines = ["# mobilekit.toml: written by `mobilekit init`. Every key is optional unless marked required.", ""]
    for section, cls in SECTIONS.items():
        lines.append(f"# {_SECTION_HELP[section]}")
        lines.append(f"[{section}]")
        for f in fields(cls):
            meta = f.metadata
            doc = meta["help"]
            if meta["choices"]:
                doc += f" One of: {', '.join(meta['choices'])}."
            if meta["required"]:
                doc += " (required)"
            lines.append(f"# {doc}")
            if (section, f.name) in given:
                lines.append(f"{f.name} = {_toml_literal(given[(section, f.name)])}")
            elif meta["derived"] or f.default is None:
                lines.append(f"# {f.name} = ...")
            else:
                default = f.default.as_posix() if isinstance(f.default, Path) else f.default
                lines.append(f"# {f.name} = {_toml_literal(default)}")
        lines.append("")
    return "\n".join(lines)


def reference_markdown() -> str:
    """The README's configuration reference (a test keeps the README in sync with this)."""
    out = []
    for section, cls in SECTIONS.items():
        out.append(f"### [{section}]\n\n{_SECTION_HELP[section]}\n")
        out.append("| key | default | meaning |\n|---|---|---|")
        for f in fields(cls):
            meta = f.metadata
            if meta["required"]:
                default = "**required**"
            elif meta["derived"]:
                default = "derived"
            elif f.default is None:
                default = "unset"
            else:
                value = f.default.as_posix() if isinstance(f.default, Path) else f.default
                default = f"`{_toml_literal(value)}`"
            doc = meta["help"]
            if meta["choices"]:
                doc += " One of: " + ", ".join(f"`{c}`" for c in meta["choices"]) + "."
            if meta["min"] is not None and meta["max"] is not None:
                doc += f" Range {meta['min']:g} to {meta['max']:g}."
            elif meta["min"] is not None:
                doc += f" At least {meta['min']:g}."
            out.append(f"| `{f.name}` | {default} | {doc.replace('|', '/')} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def update_readme(readme: Path) -> None:
    """Rewrites the block between the reference markers of ``readme``."""
    import re

    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(r"(<!-- reference:start[^\n]*-->\n).*?(<!-- reference:end -->)", re.S)
    readme.write_text(pattern.sub(lambda m: m.group(1) + reference_markdown() + m.group(2), text), encoding="utf-8")


if __name__ == "__main__":  # python -m mobilekit.config.template [README.md]
    import sys

    if len(sys.argv) > 1:
        update_readme(Path(sys.argv[1]))
    else:
        print(reference_markdown(), end="")

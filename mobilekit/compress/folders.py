"""Hugging Face model folders in and out of the compression stages.

A folder written here is what ``save_pretrained`` writes plus the tokenizer files copied from the
folder the model came from (verbatim unless the vocabulary was trimmed), so `export` and the SDKs
load it with AutoModel*/AutoTokenizer like any other checkpoint (through
``heads.load_pretrained`` when attention heads were pruned: config.json records their counts).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mobilekit.errors import ModelInputError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
# sentence-transformers' description of the pipeline around the encoder (pooling, normalization):
# it stays true for a student of the same width, so it travels with the encoder.
SENTENCE_TRANSFORMERS_FILES = ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json", "1_Pooling", "2_Normalize")
WEIGHTS_FILE = "model.safetensors"


def load_tokenizer(folder: Path):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder))
    except (OSError, ValueError) as e:
        raise ModelInputError(f"cannot load the tokenizer of {folder}: {e}", hint="the folder needs tokenizer.json or vocab.txt") from e


def load_model(folder: Path, task: str, *, attentions: bool = False, **kwargs):
    """A classifier (text-classification) or a bare encoder (sentence-embedding), in eval mode.
    ``attentions``: use eager attention, the only implementation that returns attention maps.
    A head-pruned folder loads with its own per-layer head counts (``heads.load_pretrained``)."""
    from transformers import AutoModel, AutoModelForSequenceClassification

    from mobilekit.compress.heads import load_pretrained

    cls = AutoModelForSequenceClassification if task == "text-classification" else AutoModel
    if attentions:
        kwargs["attn_implementation"] = "eager"
    try:
        model = load_pretrained(cls, folder, **kwargs)
    except (OSError, ValueError) as e:
        raise ModelInputError(f"cannot load the model in {folder}: {e}", hint="point model.path at a folder written by save_pretrained()") from e
    return model.eval()


def save_model_folder(model, out_dir: Path, *, tokenizer_from: Path, task: str, copy_tokenizer: bool = True) -> Path:
    """save_pretrained (safetensors) + the tokenizer files (+ sentence-transformers files)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    if copy_tokenizer:
        copy_files(tokenizer_from, out_dir, TOKENIZER_FILES)
        if not any((out_dir / name).is_file() for name in ("tokenizer.json", "vocab.txt")):
            load_tokenizer(tokenizer_from).save_pretrained(str(out_dir))
    if task == "sentence-embedding":
        copy_files(tokenizer_from, out_dir, SENTENCE_TRANSFORMERS_FILES)
    return out_dir


def copy_files(source: Path, target: Path, names: tuple[str, ...]) -> None:
    for name in names:
        path = Path(source) / name
        if path.is_dir():
            shutil.copytree(path, target / name, dirs_exist_ok=True)
        elif path.is_file():
            shutil.copy2(path, target / name)


def weights_bytes(folder: Path) -> int:
    """Size of the float32 weights file a phone would ship (the safetensors file)."""
    path = Path(folder) / WEIGHTS_FILE
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in Path(folder).glob("*.safetensors"))


def parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters())

"""What a causal-LM model folder must hold, checked before any stage loads it.

Every problem a user can cause here is a ModelInputError (exit 4) that says what is wrong and how
to fix it: a GGUF file instead of a folder, an architecture mobilekit cannot drive with a KV
cache, missing weights or tokenizer, a truncated weight file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mobilekit.errors import ModelInputError
from mobilekit.llm.kv_decoder import SUPPORTED_ARCHITECTURES
from mobilekit.weights import check_safetensors_files

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
GGUF_RECIPE = ("load it with transformers (AutoModelForCausalLM.from_pretrained(folder, gguf_file=name) needs "
               "`pip install gguf`) and save_pretrained() it to a folder; setup/components/smollm2.sh does exactly "
               "this for the SmolLM2 example")


@dataclass(frozen=True)
class CausalLmFolder:
    path: Path
    model_type: str
    architectures: tuple[str, ...]
    vocab_size: int
    max_positions: int | None
    has_chat_template: bool
    tie_word_embeddings: bool


def gguf_error(path: Path, key: str = "model.path") -> ModelInputError:
    return ModelInputError(
        f"{key} = {path} is a GGUF file; mobilekit takes a Hugging Face model folder (config.json, safetensors, tokenizer.json)",
        hint=f"convert it once: {GGUF_RECIPE}",
    )


def supported_list() -> str:
    return ", ".join(f"{t} ({names})" for t, names in SUPPORTED_ARCHITECTURES.items())


def inspect_causal_lm(model_dir: Path) -> CausalLmFolder:
    """The folder's facts, or a ModelInputError naming the problem and the fix."""
    model_dir = Path(model_dir)
    if model_dir.is_file() and model_dir.suffix.lower() == ".gguf":
        raise gguf_error(model_dir)
    if not model_dir.is_dir():
        raise ModelInputError(f"model folder {model_dir} does not exist", hint="point model.path at a folder written by save_pretrained()")
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        ggufs = sorted(model_dir.glob("*.gguf"))
        if ggufs:
            raise gguf_error(ggufs[0])
        raise ModelInputError(f"{model_dir} has no config.json", hint="point model.path at a folder written by save_pretrained()")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelInputError(f"{config_path} is not valid JSON: {e}", hint="restore the file from the model's source") from e
    check_safetensors_files(model_dir)
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    model_type = text.get("model_type") or config.get("model_type")
    if model_type not in SUPPORTED_ARCHITECTURES:
        raise ModelInputError(
            f"model_type {model_type!r} in {config_path} is not a causal LM mobilekit can convert with a KV cache",
            hint=f"supported architectures: {supported_list()}",
        )
    architectures = tuple(config.get("architectures") or ())
    if architectures and not any(a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")) for a in architectures):
        raise ModelInputError(
            f"{config_path} declares {', '.join(architectures)}, not a text-generation head",
            hint="task text-generation needs a *ForCausalLM checkpoint (save the model with AutoModelForCausalLM)",
        )
    if not any((model_dir / f).is_file() for f in WEIGHT_FILES):
        raise ModelInputError(f"{model_dir} has no model weights (looked for {', '.join(WEIGHT_FILES)})",
                              hint="save the model with model.save_pretrained(folder)")
    if not (model_dir / "tokenizer.json").is_file():
        raise ModelInputError(
            f"{model_dir} has no tokenizer.json",
            hint="the on-device tokenizers are generated from tokenizer.json: save it with tokenizer.save_pretrained(folder)")
    template = (model_dir / "chat_template.jinja").is_file() or _declares_template(model_dir)
    return CausalLmFolder(
        path=model_dir, model_type=model_type, architectures=architectures,
        vocab_size=int(text.get("vocab_size", 0)),
        max_positions=text.get("max_position_embeddings") or text.get("n_positions"),
        has_chat_template=template,
        tie_word_embeddings=bool(config.get("tie_word_embeddings", text.get("tie_word_embeddings", False))),
    )


def _declares_template(model_dir: Path) -> bool:
    path = model_dir / "tokenizer_config.json"
    try:
        return bool(json.loads(path.read_text(encoding="utf-8")).get("chat_template")) if path.is_file() else False
    except ValueError:
        return False


def load_checked(model_dir: Path, dtype=None):
    """``kv_decoder.load_causal_lm`` with load failures (a truncated safetensors file, a config the
    installed transformers cannot read) turned into ModelInputError."""
    from mobilekit.llm.kv_decoder import load_causal_lm

    inspect_causal_lm(model_dir)
    try:
        return load_causal_lm(model_dir, dtype=dtype)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise ModelInputError(f"cannot load the model in {model_dir}: {type(e).__name__}: {str(e).splitlines()[0][:300]}",
                              hint="the weights may be truncated or from another model; save the folder again with save_pretrained()") from e
    except Exception as e:  # safetensors raises its own error type on a truncated file
        if type(e).__name__ == "SafetensorError":
            raise ModelInputError(f"the weights in {model_dir} cannot be read: {e}",
                                  hint="the file is truncated or corrupt; save the folder again with save_pretrained()") from e
        raise

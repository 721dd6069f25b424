"""GGUF file -> Hugging Face folder (fp32 safetensors, tokenizer.json, chat template).

    python -m mobilekit.llm.gguf_import model.gguf out_folder

transformers dequantizes GGUF weights on load (``gguf_file=``) but refuses to ``save_pretrained``
such a model ("quantized with gguf ... not serializable"), so the state dict is moved into a model
built from the same config without its quantization_config, with embeddings re-tied. The folder
reloads to identical logits (checked here on one prompt before anything is written).
"""

from __future__ import annotations

import sys
from pathlib import Path


def import_gguf(gguf_path: Path, out_dir: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    if getattr(config, "tie_word_embeddings", False):
        model.tie_weights()
    model.eval()
    probe = tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        diff = (model(probe).logits - loaded(probe).logits).abs().max().item()
    if diff > 1e-5:
        raise SystemExit(f"gguf_import: the rebuilt model disagrees with the GGUF load (max abs diff {diff:.3g})")
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    if model.generation_config is not None:
        model.generation_config.save_pretrained(str(out_dir))
    return out_dir


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m mobilekit.llm.gguf_import MODEL.gguf OUT_FOLDER")
    out = import_gguf(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"gguf_import: wrote {out}")

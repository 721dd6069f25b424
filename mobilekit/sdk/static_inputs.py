"""``SdkInputs`` for a static student: its model folder is all the SDKs need.

The goldens are computed from ``static_model.bin`` itself (the file both SDKs ship), on the
tokenizer corpus: each text's model output (logits, or the embedding as returned) and what the
wrapper returns for it.
"""

from __future__ import annotations

import json
from pathlib import Path

from mobilekit.config import Config
from mobilekit.fsutil import sha256_tree
from mobilekit.sdk.build_inputs import config_names
from mobilekit.sdk.golden import TOKENIZER_CORPUS, fuzz_goldens_text, output_goldens, tokenization_goldens
from mobilekit.sdk.inputs import SdkInputs, TokenizerSettings


def build_static_sdk_inputs(config: Config, model_dir: Path) -> SdkInputs:
    from mobilekit.compress.folders import load_tokenizer
    from mobilekit.compress.static_format import DESCRIPTION_FILE, FILE_NAME, load_static_model
    from mobilekit.compress.static_student import text_ids
    from mobilekit.modelinfo import tokenizer_settings

    description = json.loads((model_dir / DESCRIPTION_FILE).read_text(encoding="utf-8"))
    model = load_static_model(model_dir / FILE_NAME)
    task, labels = description["task"], description.get("labels")
    length = config.model.sequence_length
    texts = list(TOKENIZER_CORPUS)
    ids = text_ids(load_tokenizer(model_dir), texts, length)
    raw = model.logits(ids) if task == "text-classification" else model.embed(ids)
    vocab_file = model_dir / "vocab.txt"
    return SdkInputs(
        **config_names(config), task=task, labels=labels,
        sequence_length=length, normalize=model.normalize if task == "sentence-embedding" else None,
        tokenizer=TokenizerSettings.from_declared(tokenizer_settings(model_dir)),
        vocab=vocab_file.read_text(encoding="utf-8").splitlines(), vocab_file=vocab_file,
        model_sha256=sha256_tree(model_dir), tflite_model=None, tflite_variant=None, coreml_model=None, coreml_variant=None,
        tokenization_goldens=tokenization_goldens(model_dir, length),
        output_goldens=output_goldens(raw, texts, task=task, labels=labels),
        input_names=["input_ids", "attention_mask"], output_name="logits" if task == "text-classification" else "embedding",
        fuzz_goldens=fuzz_goldens_text(model_dir, length),
        static_model=model_dir / FILE_NAME,
    )

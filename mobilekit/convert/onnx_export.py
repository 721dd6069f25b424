"""Hugging Face BERT-family folder -> ONNX, plus the torch reference every variant is compared with.

The exported graph is the contract every later artifact (TFLite, Core ML, the SDKs) keeps:

* inputs ``input_ids``, ``attention_mask`` and, for architectures that have segment embeddings,
  ``token_type_ids``; all int32 ``[batch, sequence_length]`` (int32 because TFLite and Core ML
  apps feed int32; the graph casts to int64 itself).
* one float32 output: ``logits`` ``[batch, num_labels]`` for text classification, or
  ``embedding`` ``[batch, hidden]`` for sentence embeddings, pooled over the attention mask and
  (optionally) L2-normalized inside the graph, so an app gets the vector Python gets.

Decision for architectures without segment embeddings (DistilBERT): the graph has no
``token_type_ids`` input rather than a dead one (exporters and onnx2tf prune unused inputs
anyway, so a dead input would not survive conversion reliably). ``OnnxExportInfo.input_names``
and the architecture table below say which inputs a model takes; the runners feed inputs by name
and ignore extra keys, so callers can always pass the three arrays ``tokenize`` returns.

The same wrapper module serves as the reference (``reference_outputs``), so "original" means
exactly the computation that was exported.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from mobilekit.encoder_folder import (  # noqa: F401 - re-exported for the converters that import them from here
    ALL_INPUT_NAMES, ARCHITECTURES, MIN_SEQUENCE_LENGTH, POOLINGS, TASKS, TOKENIZER_FILES, WEIGHT_FILES, ArchitectureSpec,
    ModelFolderInfo, _check_sequence_length, _check_task, check_model_for_task, detect_embedding_settings,
    inspect_model_folder, output_name_for,
)
from mobilekit.errors import ConversionError, ModelInputError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

@dataclass(frozen=True)
class OnnxExportInfo:
    path: Path
    input_names: list[str]
    output_name: str
    sequence_length: int
    dynamic_length: bool
    opset: int
    file_size: int
    model_type: str
    task: str
    seconds: float

    def to_dict(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def _load_wrapper(model_dir: Path, *, task: str, pooling: str, normalize: bool, attach_table: bool = True):
    """The torch module that is exported and used as reference (int32 inputs, one output).
    ``attach_table=False`` keeps a compressed embedding table's dense reconstruction (Core ML
    stores int8 rows with its own weight compression instead)."""
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification

    from mobilekit.compress.heads import load_pretrained

    info = inspect_model_folder(model_dir)
    cls = AutoModelForSequenceClassification if task == "text-classification" else AutoModel
    try:
        # Eager attention: an additive float mask, the same graph shape for every export (sdpa
        # paths may drop the mask when traced with an all-ones example). A head-pruned student
        # loads with its per-layer head counts.
        model = load_pretrained(cls, model_dir, attn_implementation="eager")
    except (OSError, ValueError) as e:
        raise ModelInputError(f"transformers cannot load {model_dir}: {e}") from e
    model.eval()
    # A distilled student with a compressed embedding table: the graph gathers from it (the
    # folder's dense table is its exact reconstruction, so the outputs are the same).
    from mobilekit.compress.embedding_table import attach_if_present

    if attach_table:
        attach_if_present(model, model_dir)
    uses_tti = info.architecture.USES_TOKEN_TYPE_IDS
    is_classification = task == "text-classification"

    class _Body(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def run(self, input_ids, attention_mask, token_type_ids=None):
            kwargs = {"input_ids": input_ids.long(), "attention_mask": attention_mask.long()}
            if uses_tti:
                kwargs["token_type_ids"] = token_type_ids.long()
            out = self.model(**kwargs, return_dict=True)
            if is_classification:
                return out.logits
            hidden = out.last_hidden_state
            if pooling == "mean":
                # Mean over real tokens as one matmul with weights mask/count (each in [0, 1]):
                # the same numbers as sum(hidden * mask) / sum(mask), but quantization-friendly.
                # The sum-then-divide form needs an int8 range 16x wider than the hidden states
                # and gave full-int8 cosines of ~0.8 on the tiny model; this form gives > 0.99.
                mask = attention_mask.to(hidden.dtype)
                weights = mask / mask.sum(dim=1, keepdim=True).clamp(min=1e-9)
                emb = torch.matmul(weights.unsqueeze(1), hidden).squeeze(1)
            else:
                emb = hidden[:, 0]
            if normalize:
                # as torch.nn.functional.normalize (what sentence-transformers' Normalize calls)
                emb = emb / torch.sqrt((emb * emb).sum(dim=-1, keepdim=True)).clamp(min=1e-12)
            return emb

    # Two signatures so the traced graph has exactly the inputs the model uses.
    if uses_tti:
        class Wrapper(_Body):
            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.run(input_ids, attention_mask, token_type_ids)
    else:
        class Wrapper(_Body):
            def forward(self, input_ids, attention_mask):
                return self.run(input_ids, attention_mask)

    return Wrapper().eval(), info


def tokenize(model_dir: Path, texts: Sequence[str], sequence_length: int,
             input_names: Sequence[str] | None = None) -> dict[str, "np.ndarray"]:
    """Encode ``texts`` with the folder's own tokenizer: int32 arrays [len(texts), sequence_length].

    Returns input_ids, attention_mask and token_type_ids (zeros when the tokenizer gives none), or
    only ``input_names`` when given (the inputs an exported model takes).
    """
    import numpy as np

    tokenizer = _load_tokenizer(Path(model_dir))
    enc = tokenizer(list(texts), padding="max_length", truncation=True, max_length=sequence_length,
                    return_tensors="np")
    out = {name: np.asarray(enc[name], dtype=np.int32) for name in ("input_ids", "attention_mask")}
    if "token_type_ids" in enc:
        out["token_type_ids"] = np.asarray(enc["token_type_ids"], dtype=np.int32)
    else:
        out["token_type_ids"] = np.zeros_like(out["input_ids"])
    if input_names is not None:
        return {name: out[name] for name in input_names}
    return out


def token_counts(model_dir: Path, texts: Sequence[str]) -> list[int]:
    """Tokens per text with the folder's tokenizer, special tokens included, never truncated."""
    tokenizer = _load_tokenizer(Path(model_dir))
    return [len(ids) for ids in tokenizer(list(texts), truncation=False)["input_ids"]]


def _load_tokenizer(model_dir: Path):
    from transformers import AutoTokenizer

    if not any((model_dir / f).is_file() for f in TOKENIZER_FILES):
        raise ModelInputError(
            f"{model_dir} has no tokenizer files (looked for {', '.join(TOKENIZER_FILES)})",
            hint="save the tokenizer next to the model with tokenizer.save_pretrained(folder)",
        )
    try:
        return AutoTokenizer.from_pretrained(model_dir)
    except (OSError, ValueError) as e:
        raise ModelInputError(f"transformers cannot load the tokenizer in {model_dir}: {e}") from e


def _example_inputs(info: ModelFolderInfo, sequence_length: int):
    """Batch of 2 with padding in one row, so tracing sees a real mask."""
    import torch

    ids = torch.full((2, sequence_length), 0, dtype=torch.int32)
    mask = torch.zeros((2, sequence_length), dtype=torch.int32)
    ids[:, 0] = 2
    ids[0, 1:] = 5
    mask[0, :] = 1
    half = max(2, sequence_length // 2)
    ids[1, 1:half] = 6
    mask[1, :half] = 1
    tti = torch.zeros((2, sequence_length), dtype=torch.int32)
    values = {"input_ids": ids, "attention_mask": mask, "token_type_ids": tti}
    return tuple(values[n] for n in info.input_names)


def export_onnx(
    model_dir: Path,
    out_path: Path,
    *,
    task: str,
    sequence_length: int,
    pooling: str = "mean",
    normalize: bool = True,
    opset: int = 17,
    dynamic_length: bool = False,
) -> OnnxExportInfo:
    """Export the wrapped model to ``out_path`` (batch axis dynamic; length fixed unless asked)."""
    model_dir, out_path = Path(model_dir), Path(out_path)
    info = check_model_for_task(model_dir, task=task, pooling=pooling, sequence_length=sequence_length)

    import torch

    start = time.monotonic()
    wrapper, info = _load_wrapper(model_dir, task=task, pooling=pooling, normalize=normalize)
    output_name = output_name_for(task)
    dynamic_axes = {name: {0: "batch"} for name in info.input_names}
    if dynamic_length:
        for name in info.input_names:
            dynamic_axes[name][1] = "sequence"
    dynamic_axes[output_name] = {0: "batch"}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".partial")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # TracerWarnings from transformers' mask code: shapes are fixed by design here.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper,
                _example_inputs(info, sequence_length),
                str(tmp),
                input_names=info.input_names,
                output_names=[output_name],
                dynamic_axes=dynamic_axes,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        _check_onnx(tmp, info.input_names, output_name)
        tmp.replace(out_path)
    except ConversionError:
        tmp.unlink(missing_ok=True)
        raise
    except Exception as e:  # torch.onnx raises many unrelated types
        tmp.unlink(missing_ok=True)
        raise ConversionError(f"torch.onnx.export failed for {model_dir}: {type(e).__name__}: {e}") from e
    return OnnxExportInfo(
        path=out_path,
        input_names=list(info.input_names),
        output_name=output_name,
        sequence_length=sequence_length,
        dynamic_length=dynamic_length,
        opset=opset,
        file_size=out_path.stat().st_size,
        model_type=info.model_type,
        task=task,
        seconds=time.monotonic() - start,
    )


def _check_onnx(path: Path, input_names: list[str], output_name: str) -> None:
    import onnx

    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    got_inputs = [i.name for i in model.graph.input]
    got_outputs = [o.name for o in model.graph.output]
    if got_inputs != input_names or got_outputs != [output_name]:
        raise ConversionError(
            f"exported graph has inputs {got_inputs} and outputs {got_outputs}; "
            f"expected {input_names} and [{output_name!r}]"
        )


def reference_outputs(
    model_dir: Path,
    encodings: dict[str, "np.ndarray"],
    *,
    task: str,
    pooling: str = "mean",
    normalize: bool = True,
    batch_size: int = 32,
) -> "np.ndarray":
    """Run the exported computation in torch (float32) on ``encodings``; returns float32 [N, ...]."""
    import numpy as np
    import torch

    _check_task(task, pooling)
    wrapper, info = _load_wrapper(Path(model_dir), task=task, pooling=pooling, normalize=normalize)
    missing = [n for n in info.input_names if n not in encodings]
    if missing:
        raise ModelInputError(f"encodings lack {', '.join(missing)}", hint="use tokenize() to build them")
    n = len(encodings["input_ids"])
    outs = []
    with torch.no_grad():
        for i in range(0, n, batch_size):
            args = [torch.from_numpy(np.asarray(encodings[k][i:i + batch_size], dtype=np.int32))
                    for k in info.input_names]
            outs.append(wrapper(*args).numpy())
    return np.concatenate(outs, axis=0).astype(np.float32)

"""Child-process driver for the litert-torch route; runs in the litert-torch virtual environment.

    <litert-torch venv>/bin/python -m mobilekit.convert._litert_torch_driver request.json

Never imported by mobilekit itself (``mobilekit.convert.litert_torch`` starts it). It imports
only mobilekit's light modules (``onnx_export`` for the torch wrapper, ``tflite`` for the shared
constants, ``variants`` for the variant names) plus torch, transformers, litert_torch, ai_edge_quantizer and ai_edge_litert, all from
its own environment. The request (JSON) holds: model_dir, task, sequence_length, length_buckets
(optional; default [sequence_length]), pooling, normalize, outputs {variant: path},
calibration_npz (or null), work_dir, result.

Steps: the same wrapper module the ONNX export uses -> litert-torch with one signature per length
bucket (``mobilekit.buckets.signatures``: static [1, length] int32 kwargs, which name the signature
inputs; the wrapper returns a dict so the signature output is named ``logits`` / ``embedding``;
one bucket is the single ``serving_default`` signature as always) -> float32 .tflite, every
signature reading the same weight buffers -> ai-edge-quantizer, then byte-identical buffers are
stored once again (``tflite_buffers.deduplicate_buffers``: the quantizer writes each signature's
quantized weights separately):
  float16       float_casting of FULLY_CONNECTED / EMBEDDING_LOOKUP weights (float compute), then
                the fully connected biases cast too (``tflite_buffers.float16_biases``: LiteRT 2.1's
                XNNPACK refuses a float16 filter with a float32 bias; MiniLM-L6 ran 87 ms instead of 25)
  dynamic-int8  dynamic_legacy_wi8_afp32: int8 channelwise weights, activations quantized at run
                time, weights under 1024 elements (a classifier head) left float, as TFLiteConverter's
                dynamic range does in the onnx2tf route (plain dynamic_wi8_afp32 quantizes the head
                too: max diff 2.7e-3 instead of 3.3e-4 on the trained tiny classifier)
  full-int8     static_wi8_ai8 calibrated on the request's int32 rows, from a copy of the float
                model whose attention-mask constant (float32 min) is set to MASK_VALUE_FOR_INT8
                (else the calibrated scale of the masked scores is ~1e36, as in the onnx2tf
                route); the op that produces the model output is left in float, so the output
                stays float32 like the other variants and loses no precision to an int8 step;
                EMBEDDING_LOOKUP tables int8 as in dynamic-int8 (static_wi8_ai8 would keep them float32).
full-int8 calibrates every signature on every calibration row cut to its length. The float32 model's every signature is also run against the torch
wrapper on a few probe rows cut to its length (the guard figure in the result, the worst over the
signatures; the parent judges it).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from mobilekit.buckets import signatures
from mobilekit.convert.tflite_buffers import deduplicate_buffers, float16_biases
from mobilekit.variants import DYNAMIC_INT8, FLOAT16, FLOAT32, FULL_INT8


def _named_module(wrapper, input_names: list[str], output_name: str):
    """The wrapper, returning {output_name: tensor} so litert-torch names the signature output."""
    import torch

    if "token_type_ids" in input_names:
        class Named(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.wrapper = wrapper

            def forward(self, input_ids, attention_mask, token_type_ids):
                return {output_name: self.wrapper(input_ids, attention_mask, token_type_ids)}
    else:
        class Named(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.wrapper = wrapper

            def forward(self, input_ids, attention_mask):
                return {output_name: self.wrapper(input_ids, attention_mask)}

    return Named().eval()


def _probe_rows(input_names: list[str], seq: int, calibration) -> dict:
    import numpy as np

    if calibration is not None:
        return {n: np.asarray(calibration[n][:4], dtype=np.int32) for n in input_names}
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 100, size=(3, seq)).astype(np.int32)
    mask = np.ones((3, seq), dtype=np.int32)
    for r, length in enumerate([seq, max(2, seq // 2), 2]):
        mask[r, length:] = 0
        ids[r, length:] = 0
    rows = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    return {n: rows[n] for n in input_names}


def rewrite_mask_constants(data: bytes, value: float, threshold: float) -> tuple[bytes, int]:
    """Set every scalar float32 constant below ``threshold`` to ``value``; returns (model, count).

    Edits the flatbuffer in place through numpy views of its buffers (no re-serialization, so
    nothing else in the model can change).
    """
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    buf = bytearray(data)
    model = schema.Model.GetRootAsModel(buf, 0)
    done: set[int] = set()
    for g in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(g)
        for t in range(subgraph.TensorsLength()):
            tensor = subgraph.Tensors(t)
            index = tensor.Buffer()
            if tensor.Type() != schema.TensorType.FLOAT32 or index in done or index == 0:
                continue
            buffer = model.Buffers(index)
            if buffer.Offset() > 1:  # data stored after the flatbuffer (large-model layout)
                if buffer.Size() != 4:
                    continue
                raw = np.frombuffer(buf, dtype=np.uint8, count=4, offset=buffer.Offset())
            elif buffer.DataLength() == 4:
                raw = buffer.DataAsNumpy()  # a writable view into buf
            else:
                continue
            if float(raw.view(np.float32)[0]) < threshold:
                raw[:] = np.frombuffer(np.float32(value).tobytes(), dtype=np.uint8)
                done.add(index)
    return bytes(buf), len(done)


def _signature_output_tensor_names(data: bytes) -> list[str]:
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(bytearray(data), 0)
    names = []
    for s in range(model.SignatureDefsLength()):
        sig = model.SignatureDefs(s)
        subgraph = model.Subgraphs(sig.SubgraphIndex())
        for i in range(sig.OutputsLength()):
            names.append(subgraph.Tensors(sig.Outputs(i).TensorIndex()).Name().decode())
    return names


FLOAT16_RECIPE = [{
    "regex": ".*",
    "operation": "*",
    "algorithm_key": "float_casting",
    "op_config": {"weight_tensor_config": {"num_bits": 16, "dtype": "FLOAT"},
                  "compute_precision": "FLOAT", "explicit_dequantize": True},
}]


def _quantize(float_model, recipe, out_path: Path, calibration_rows=None, *, shared: bool = False) -> None:
    """``calibration_rows``: {signature: [row feed, ...]} for full-int8, else None. ``shared``: the
    model has several signatures, whose quantized weights are then stored once."""
    from ai_edge_quantizer import quantizer

    qt = quantizer.Quantizer(float_model, recipe)
    calibration_result = None
    if calibration_rows is not None:
        calibration_result = qt.calibrate(calibration_rows, num_threads=1)
    result = qt.quantize(calibration_result, enable_progress_report=False)
    result.export_model(str(out_path), overwrite=True)
    removed = deduplicate_buffers(out_path) if shared else 0
    if removed:
        print(f"{out_path.name}: {removed} duplicate weight buffer(s) shared between signatures", flush=True)


def _sample_kwargs(probe: dict, input_names: list[str], length: int) -> dict:
    """One padded probe row cut to ``length`` tokens, as torch tensors (the signature's inputs)."""
    import torch

    return {n: torch.from_numpy(probe[n][1:2, :length].copy()) for n in input_names}


def _convert_float(module, probe: dict, input_names: list[str], buckets: list[int], out_path: Path) -> None:
    """One signature per bucket, largest (``serving_default``) first; litert-torch shares the weights."""
    import litert_torch

    converter = None
    for length, name in signatures(buckets).items():
        kwargs = _sample_kwargs(probe, input_names, length)
        converter = (litert_torch.signature(name, module, sample_kwargs=kwargs) if converter is None
                     else converter.signature(name, module, sample_kwargs=kwargs))
    converter.convert().export(str(out_path))


def _guard(module, output_name: str, probe: dict, input_names: list[str], buckets: list[int], float_path: Path):
    """(worst max abs diff over the signatures, largest reference magnitude): every signature vs torch."""
    import numpy as np
    import torch

    from mobilekit.runners.tflite_runner import TfliteRunner

    worst, magnitude = 0.0, 0.0
    for length, name in signatures(buckets).items():
        rows = {n: np.ascontiguousarray(probe[n][:, :length]) for n in input_names}
        with torch.no_grad():
            reference = module(**{n: torch.from_numpy(rows[n]) for n in input_names})[output_name].numpy()
        candidate = TfliteRunner(float_path, signature=name).run(rows)
        diff = float(np.max(np.abs(reference - candidate)))
        print(f"guard: float32 signature {name} ({length} tokens) vs torch max abs diff {diff:.3g}", flush=True)
        worst, magnitude = max(worst, diff), max(magnitude, float(np.max(np.abs(reference))))
    return worst, magnitude


def _calibration_rows(calibration, input_names: list[str], buckets: list[int]) -> dict:
    """{signature: [one-row feed, ...]}: every calibration text, cut to each bucket's length.

    Not only the texts that fit a bucket: a small bucket may hold one or two of them, and ranges
    calibrated on so few rows are poor (the tiny embedder's 4-token bucket, calibrated on the two
    texts that fit it: cosine 0.91 to torch on a 3-token text). A cut text's activations have the
    ranges of real text at that length."""
    import numpy as np

    count = len(calibration["input_ids"])
    return {name: [{n: np.ascontiguousarray(calibration[n][i:i + 1, :length], dtype=np.int32) for n in input_names}
                   for i in range(count)]
            for length, name in signatures(buckets).items()}


def _full_int8(float_bytes: bytes, calibration, input_names: list[str], buckets: list[int], out_path: Path) -> int:
    """The calibrated int8 model (see the module docstring); returns how many mask constants were set."""
    import re

    from ai_edge_quantizer import recipe as aeq_recipe

    from mobilekit.convert.tflite import _MASK_CONSTANT_THRESHOLD, MASK_VALUE_FOR_INT8

    masked, rewritten = rewrite_mask_constants(float_bytes, MASK_VALUE_FOR_INT8, _MASK_CONSTANT_THRESHOLD)
    print(f"full-int8: {rewritten} attention-mask constant(s) set to {MASK_VALUE_FOR_INT8}", flush=True)
    recipe = list(aeq_recipe.static_wi8_ai8())
    # static_wi8_ai8 leaves EMBEDDING_LOOKUP out, so the word embedding table stayed float32 (MiniLM-L6:
    # 46.9 of the file's 60.2 MB); int8 rows with float output, as dynamic-int8 stores it: 26.1 MB.
    recipe += [{**entry, "operation": "EMBEDDING_LOOKUP"} for entry in aeq_recipe.dynamic_legacy_wi8_afp32()]
    # The op producing each signature output stays float (its scope is "<tensor name>;").
    recipe += [{"regex": "^" + re.escape(name) + ";", "operation": "*", "algorithm_key": "no_quantize",
                "op_config": {}} for name in _signature_output_tensor_names(masked)]
    _quantize(masked, recipe, out_path, calibration_rows=_calibration_rows(calibration, input_names, buckets),
              shared=len(buckets) > 1)
    return rewritten


def _write_variants(float_path: Path, outputs: dict, calibration, input_names, buckets, timings: dict) -> int:
    """Every requested variant from the float32 model; returns the full-int8 mask rewrite count."""
    from ai_edge_quantizer import recipe as aeq_recipe

    float_bytes = float_path.read_bytes()
    rewritten = 0
    for variant, out_path in outputs.items():
        t = time.monotonic()
        if variant == FLOAT32:
            shutil.copyfile(float_path, out_path)
        elif variant == FLOAT16:
            _quantize(float_bytes, FLOAT16_RECIPE, out_path, shared=len(buckets) > 1)
            cast = float16_biases(out_path)
            print(f"{out_path.name}: {cast} fully connected bias(es) stored as float16", flush=True)
        elif variant == DYNAMIC_INT8:
            _quantize(float_bytes, aeq_recipe.dynamic_legacy_wi8_afp32(), out_path, shared=len(buckets) > 1)
        elif variant == FULL_INT8:
            rewritten = _full_int8(float_bytes, calibration, input_names, buckets, out_path)
        timings[variant] = time.monotonic() - t
    return rewritten


def main(request_path: str) -> int:
    request = json.loads(Path(request_path).read_text())
    timings: dict[str, float] = {}
    start = time.monotonic()
    import numpy as np
    import torch

    import litert_torch

    from mobilekit.convert.onnx_export import _load_wrapper, output_name_for

    timings["import"] = time.monotonic() - start
    print(f"litert-torch {litert_torch.__version__}, torch {torch.__version__}, numpy {np.__version__}", flush=True)
    model_dir = Path(request["model_dir"])
    task, seq = request["task"], int(request["sequence_length"])
    buckets = [int(b) for b in request.get("length_buckets") or [seq]]
    outputs = {v: Path(p) for v, p in request["outputs"].items()}
    work = Path(request["work_dir"])
    work.mkdir(parents=True, exist_ok=True)
    calibration = dict(np.load(request["calibration_npz"])) if request.get("calibration_npz") else None

    t = time.monotonic()
    wrapper, info = _load_wrapper(model_dir, task=task, pooling=request["pooling"], normalize=request["normalize"])
    output_name = output_name_for(task)
    input_names = list(info.input_names)
    module = _named_module(wrapper, input_names, output_name)
    probe = _probe_rows(input_names, seq, calibration)
    timings["load"] = time.monotonic() - t

    t = time.monotonic()
    float_path = work / "float32.tflite"
    _convert_float(module, probe, input_names, buckets, float_path)
    timings["convert"] = time.monotonic() - t
    print(f"converted to {float_path} ({len(buckets)} signature(s)) in {timings['convert']:.1f} s", flush=True)
    guard, reference_max = _guard(module, output_name, probe, input_names, buckets, float_path)
    rewritten = _write_variants(float_path, outputs, calibration, input_names, buckets, timings)
    timings["total"] = time.monotonic() - start
    Path(request["result"]).write_text(json.dumps({
        "timings": timings, "guard_max_abs_diff": guard, "guard_reference_max": reference_max,
        "mask_constants_rewritten": rewritten, "input_names": input_names, "output_name": output_name,
        "signatures": {str(length): name for length, name in signatures(buckets).items()},
        "versions": {"litert_torch": litert_torch.__version__, "torch": torch.__version__},
    }, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a child process
    sys.exit(main(sys.argv[1]))

"""Child-process driver for the litert-torch route; runs in the litert-torch virtual environment.

    <litert-torch venv>/bin/python -m mobilekit.convert._litert_torch_driver request.json

Never imported by mobilekit itself (``mobilekit.convert.litert_torch`` starts it). It imports
only mobilekit's light modules (``onnx_export`` for the torch wrapper, ``tflite`` for the shared
constants, ``variants`` for the variant names, ``embedding_int4`` for the int4 table's blocks,
``compress.embedding_table`` to tell an int8-rows table, ``errors``) plus torch, transformers, litert_torch, ai_edge_quantizer and ai_edge_litert, all from
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
  dynamic-int8-int4emb  dynamic-int8's recipe, then the word-embedding table (the largest
                EMBEDDING_LOOKUP table) symmetric int4 in blocks of a row (``embedding_int4``). A
                student whose table is int8 rows (``compress.embedding_table``) gathers it with a
                GATHER + CAST that the quantizer cannot make int4, so this variant is made from a
                second float model that looks up the folder's dense table (its exact
                reconstruction), guarded against torch like the first.
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
from mobilekit.convert.embedding_int4 import block_size
from mobilekit.convert.tflite_buffers import deduplicate_buffers, embedding_lookups, float16_biases, lookup_tables
from mobilekit.errors import ConversionError
from mobilekit.variants import DYNAMIC_INT8, DYNAMIC_INT8_INT4_EMBEDDING, FLOAT16, FLOAT32, FULL_INT8


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


def word_table_lookups(data: bytes) -> tuple[list[str], int]:
    """(output tensor names of every EMBEDDING_LOOKUP reading the largest lookup table, that table's
    row length): the word embeddings, in every signature. ([], 0) when the model has no lookup."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(bytearray(data), 0)
    lookups = []  # (table elements, row length, output name)
    for subgraph, op in embedding_lookups(model, schema):
        shape = subgraph.Tensors(op.Inputs(1)).ShapeAsNumpy()
        lookups.append((int(np.prod(shape)), int(np.prod(shape[1:])), subgraph.Tensors(op.Outputs(0)).Name().decode()))
    if not lookups:
        return [], 0
    largest = max(size for size, _, _ in lookups)
    chosen = [(row, name) for size, row, name in lookups if size == largest]
    return sorted({name for _, name in chosen}), chosen[0][0]


def int4_embedding_recipe(float_bytes: bytes) -> list[dict]:
    """dynamic-int8's recipe, with the word-embedding lookups' table int4 in blocks of a row (later
    recipe entries win for the ops they match). The recipe entry is ai-edge-quantizer's dynamic
    int4 config, which its policy allows for EMBEDDING_LOOKUP channelwise and blockwise."""
    import re

    from ai_edge_quantizer import recipe as aeq_recipe

    names, row_length = word_table_lookups(float_bytes)
    if not names:
        raise ConversionError("the model has no EMBEDDING_LOOKUP, so there is no word-embedding table to store int4",
                              hint="convert the model's other variants (dynamic-int8 keeps every weight int8)")
    block = block_size(row_length)
    weight = {"num_bits": 4, "symmetric": True, "dtype": "INT",
              "granularity": f"BLOCKWISE_{block}" if block else "CHANNELWISE"}
    table = {"operation": "EMBEDDING_LOOKUP", "algorithm_key": "min_max_uniform_quantize",
             "op_config": {"weight_tensor_config": weight, "compute_precision": "INTEGER", "explicit_dequantize": False}}
    return list(aeq_recipe.dynamic_legacy_wi8_afp32()) + [{**table, "regex": "^" + re.escape(name) + ";$"}
                                                          for name in names]


def _check_int4_table(path: Path) -> None:
    """The quantizer falls back to no quantization for a config its policy refuses: make sure the
    largest lookup table really came out int4."""
    table = lookup_tables(path)[0]
    print(f"{path.name}: word-embedding table {table['shape']} {table['type']}, block {table['block_size'] or 'row'}",
          flush=True)
    if table["type"] != "INT4":
        raise ConversionError(f"ai-edge-quantizer left the word-embedding table {table['type']}, not INT4",
                              hint="this ai-edge-quantizer may not allow int4 EMBEDDING_LOOKUP; see the log")


def _write_variants(float_path: Path, outputs: dict, calibration, input_names, buckets, timings: dict,
                    dense_table_path: Path | None = None) -> int:
    """Every requested variant from the float32 model (the int4 table one from ``dense_table_path``
    when given); returns the full-int8 mask rewrite count."""
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
        elif variant == DYNAMIC_INT8_INT4_EMBEDDING:
            source = dense_table_path.read_bytes() if dense_table_path else float_bytes
            _quantize(source, int4_embedding_recipe(source), out_path, shared=len(buckets) > 1)
            _check_int4_table(out_path)
        timings[variant] = time.monotonic() - t
    return rewritten


def _float_model(request: dict, calibration, path: Path, timings: dict, *, attach_table: bool = True,
                 label: str = "") -> dict:
    """The request's model as a float32 .tflite at ``path`` (one signature per bucket), every
    signature guarded against the torch wrapper: {input_names, output_name, guard, reference_max}.
    ``attach_table=False``: a compressed embedding table's dense reconstruction is looked up
    instead of the table itself. ``label`` suffixes the timing keys."""
    from mobilekit.convert.onnx_export import _load_wrapper, output_name_for

    task, seq = request["task"], int(request["sequence_length"])
    buckets = _buckets(request)
    t = time.monotonic()
    wrapper, info = _load_wrapper(Path(request["model_dir"]), task=task, pooling=request["pooling"],
                                  normalize=request["normalize"], attach_table=attach_table)
    output_name, input_names = output_name_for(task), list(info.input_names)
    module = _named_module(wrapper, input_names, output_name)
    probe = _probe_rows(input_names, seq, calibration)
    timings["load" + label] = time.monotonic() - t

    t = time.monotonic()
    _convert_float(module, probe, input_names, buckets, path)
    timings["convert" + label] = time.monotonic() - t
    print(f"converted to {path} ({len(buckets)} signature(s)) in {timings['convert' + label]:.1f} s", flush=True)
    guard, reference_max = _guard(module, output_name, probe, input_names, buckets, path)
    return {"input_names": input_names, "output_name": output_name, "guard": guard, "reference_max": reference_max}


def _buckets(request: dict) -> list[int]:
    return [int(b) for b in request.get("length_buckets") or [int(request["sequence_length"])]]


def _looks_up_int8_rows(model_dir: Path) -> bool:
    """Whether the folder's compressed embedding table is int8 rows (gathered, then cast)."""
    from mobilekit.compress.embedding_table import INT8_ROWS, EmbeddingTable

    table = EmbeddingTable.load(model_dir)
    return table is not None and table.method == INT8_ROWS


def main(request_path: str) -> int:
    request = json.loads(Path(request_path).read_text())
    timings: dict[str, float] = {}
    start = time.monotonic()
    import numpy as np
    import torch

    import litert_torch

    timings["import"] = time.monotonic() - start
    print(f"litert-torch {litert_torch.__version__}, torch {torch.__version__}, numpy {np.__version__}", flush=True)
    buckets = _buckets(request)
    outputs = {v: Path(p) for v, p in request["outputs"].items()}
    work = Path(request["work_dir"])
    work.mkdir(parents=True, exist_ok=True)
    calibration = dict(np.load(request["calibration_npz"])) if request.get("calibration_npz") else None

    float_path = work / "float32.tflite"
    made = _float_model(request, calibration, float_path, timings)
    guard, reference_max = made["guard"], made["reference_max"]
    dense_table_path = None
    if DYNAMIC_INT8_INT4_EMBEDDING in outputs and _looks_up_int8_rows(Path(request["model_dir"])):
        dense_table_path = work / "float32_dense_table.tflite"
        dense = _float_model(request, calibration, dense_table_path, timings, attach_table=False, label="_dense_table")
        guard, reference_max = max(guard, dense["guard"]), max(reference_max, dense["reference_max"])
    rewritten = _write_variants(float_path, outputs, calibration, made["input_names"], buckets, timings,
                                dense_table_path=dense_table_path)
    timings["total"] = time.monotonic() - start
    Path(request["result"]).write_text(json.dumps({
        "timings": timings, "guard_max_abs_diff": guard, "guard_reference_max": reference_max,
        "mask_constants_rewritten": rewritten, "input_names": made["input_names"], "output_name": made["output_name"],
        "signatures": {str(length): name for length, name in signatures(buckets).items()},
        "versions": {"litert_torch": litert_torch.__version__, "torch": torch.__version__},
    }, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a child process
    sys.exit(main(sys.argv[1]))

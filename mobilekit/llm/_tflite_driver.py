"""Child-process driver: causal LM -> TFLite with prefill/decode signatures; runs in the
litert-torch virtual environment (started by ``mobilekit.llm.tflite_convert``, never imported by
mobilekit itself).

    <litert-torch venv>/bin/python -m mobilekit.llm._tflite_driver request.json

Request (JSON): model_dir, spec (DecoderSpec.to_dict()), outputs {variant: path},
int4_block_size, work_dir, result. Steps: the model folder -> ``kv_decoder.build_kv_decoder`` ->
one litert-torch signature per prefill length plus ``decode`` (all share the weights) ->
float32 .tflite, checked against torch on a probe (prefill + decode steps; the parent judges the
figure) -> ai-edge-quantizer for each variant:
  float16       float16 weights (float_casting), float compute
  dynamic-int8  int8 channelwise weights; activations quantized at run time (XNNPACK qd8 kernels)
  int4          int4 block-wise weights (``int4_block_size`` per scale), activations quantized at
                run time. Block-wise, not per-channel: per-channel int4 collapses small LLMs
                (litert-torch #1068).
Only FULLY_CONNECTED and EMBEDDING_LOOKUP weights are quantized: they hold >99% of the bytes,
and other constants (norm scales) can have all-zero channels that int4 cannot scale.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from mobilekit.convert.tflite_buffers import deduplicate_buffers
from mobilekit.variants import DYNAMIC_INT8, FLOAT16, FLOAT32, INT4

QUANTIZED_OPS = ("FULLY_CONNECTED", "EMBEDDING_LOOKUP")
OUTPUT_HEAD = ".*logits_output.*"  # litert-torch names the head's output <signature>_logits_output


def _recipe(variant: str, block_size: int):
    from ai_edge_quantizer import qtyping, recipe_manager

    manager = recipe_manager.RecipeManager()
    ops = qtyping.TFLOperationName
    if variant == FLOAT16:
        for op in QUANTIZED_OPS:
            manager.add_quantization_config(
                regex=".*", operation_name=getattr(ops, op), algorithm_key="float_casting",
                op_config=qtyping.OpQuantizationConfig(
                    weight_tensor_config=qtyping.TensorQuantizationConfig(num_bits=16, dtype=qtyping.TensorDataType.FLOAT),
                    compute_precision=qtyping.ComputePrecision.FLOAT, explicit_dequantize=True))
        return manager.get_quantization_recipe()
    bits, granularity = {
        DYNAMIC_INT8: (8, qtyping.QuantGranularity.CHANNELWISE),
        INT4: (4, getattr(qtyping.QuantGranularity, f"BLOCKWISE_{block_size}")),
    }[variant]
    manager.add_dynamic_config(regex=".*", operation_name=ops.FULLY_CONNECTED, num_bits=bits, granularity=granularity)
    if bits == 4:
        # The output head (the tied embedding, 49152 x 576 in SmolLM2) stays int8, as llama.cpp's
        # Q4 formats keep theirs at 6-8 bits: every logit passes through it. Later entries win.
        manager.add_dynamic_config(regex=OUTPUT_HEAD, operation_name=ops.FULLY_CONNECTED, num_bits=8,
                                   granularity=qtyping.QuantGranularity.CHANNELWISE)
    # Embedding rows are gathered, not multiplied: int8 per row keeps them exact enough at any
    # setting (an int4 table would cost every token its input representation). The dynamic config
    # is what litert-torch's own recipes use here; weight-only on EMBEDDING_LOOKUP crashes
    # ai-edge-quantizer 0.10 (dequant_insert joins str and bytes names).
    manager.add_dynamic_config(regex=".*", operation_name=ops.EMBEDDING_LOOKUP, num_bits=8,
                               granularity=qtyping.QuantGranularity.CHANNELWISE)
    return manager.get_quantization_recipe()


def _quantize(float_path: Path, variant: str, block_size: int, out_path: Path) -> None:
    from ai_edge_quantizer import quantizer

    result = quantizer.Quantizer(str(float_path), _recipe(variant, block_size)).quantize()
    result.export_model(str(out_path), overwrite=True)
    deduplicate_buffers(out_path)


def _convert_float(decoder, spec, out_path: Path) -> None:
    import litert_torch

    from mobilekit.llm.kv_decoder import prefill_signature, sample_inputs

    converter = None
    for length in spec.prefill_lengths:
        name, kwargs = prefill_signature(length), sample_inputs(spec, length)
        converter = (litert_torch.signature(name, decoder, sample_kwargs=kwargs) if converter is None
                     else converter.signature(name, decoder, sample_kwargs=kwargs))
    converter = converter.signature("decode", decoder, sample_kwargs=sample_inputs(spec, 1))
    converter.convert().export(str(out_path))


def _guard(model, spec, tflite_path: Path) -> tuple[float, float]:
    """Max abs logit diff between torch's full forward and the .tflite's prefill + decode steps."""
    import numpy as np
    import torch
    from ai_edge_litert.interpreter import Interpreter

    from mobilekit.llm.tflite_runner import TfliteDecoder

    length = spec.prefill_lengths[0]
    prompt = [int(t) for t in np.random.default_rng(0).integers(3, spec.vocab_size, size=max(2, min(length, 6)) + 3)]
    with torch.no_grad():
        reference = model(torch.tensor([prompt])).logits[0].numpy()
    runner = TfliteDecoder(Interpreter(str(tflite_path), num_threads=1), spec)
    got = runner.teacher_forced_logits(prompt, prefill=len(prompt) - 3)
    return float(np.abs(got - reference).max()), float(np.abs(reference).max())


def main(request_path: str) -> int:
    request = json.loads(Path(request_path).read_text())
    from mobilekit.llm.kv_decoder import DecoderSpec, build_kv_decoder, load_causal_lm

    timings: dict[str, float] = {}
    spec = DecoderSpec.from_dict(request["spec"])
    start = time.monotonic()
    model = load_causal_lm(Path(request["model_dir"]))
    decoder = build_kv_decoder(model, spec)
    float_path = Path(request["work_dir"]) / "float32.tflite"
    _convert_float(decoder, spec, float_path)
    timings["convert_float32"] = time.monotonic() - start
    guard, reference_max = _guard(model, spec, float_path)
    outputs = {k: Path(v) for k, v in request["outputs"].items()}
    for variant, path in outputs.items():
        began = time.monotonic()
        if variant == FLOAT32:
            path.write_bytes(float_path.read_bytes())
        else:
            _quantize(float_path, variant, int(request["int4_block_size"]), path)
        timings[f"quantize_{variant}"] = time.monotonic() - began
    Path(request["result"]).write_text(json.dumps(
        {"timings": timings, "guard_max_abs_diff": guard, "guard_reference_max": reference_max}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

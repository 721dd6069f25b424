"""Core ML causal LMs: every architecture converted, then driven (chunked, padded prefill + decode)
by the MIL interpreter and compared with the Hugging Face model's full forward.

The tiny models (2 layers, hidden 32, vocab 300, random seeded weights, logits up to ~0.9,
top-1 margins 0.05-0.55) measured, max abs logit diff over 16 positions (11 prefilled as
8 + 3 padded to 8, then 5 decoded):

    float32 (all five)  1.2e-7 .. 6.0e-7
    float16 (llama)     4.2e-4   float16 rounding of every tensor, 2 layers + head
    int8 (llama)        3.9e-3   + per-channel int8 weights (step = max|w| / 127)
    int4 (llama)        7.8e-2   + per-block int4 weights (step = max|w| / 7 per 32 inputs)

The bounds, relative to the largest reference logit (0.84), sit 4x (float16, int8) and 2.7x
(int4) above those numbers: they catch a wrong cache write, mask or interpreter op (errors of
the order of the logits) without flaking on rounding. Top-1 must agree at every position for float16 and int8; int4 moves logits by a
share of the smallest margins, so 14 of 16 positions.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.tiny_lm import ARCHITECTURES, make_tiny_lm

pytestmark = pytest.mark.slow

CONTEXT, PREFILL = 32, 8
TOKENS = [5, 17, 42, 99, 7, 250, 3, 64, 128, 11, 77, 31, 200, 9, 150, 60]  # 16 positions: > gemma's window of 8
PROMPT = 11  # 8 + 3 (padded): both chunk kinds
COMPRESSED_ARCH = "llama"
RELATIVE_BOUNDS = {"float16": 2e-3, "int8": 2e-2, "int4": 0.25}
METADATA = {"author": "mobilekit tests", "license": "Apache-2.0",
            "tokenizer": {"kind": "byte_level_bpe", "eos": "<|im_end|>"}}
WEIGHT_THRESHOLD = 512  # the tiny dense layers have 1024-2048 weights: below the default nothing is compressed


@pytest.fixture(scope="module")
def conversions(tmp_path_factory):
    """arch -> its conversion, each made once per module."""
    done: dict = {}

    def get(arch: str) -> dict:
        if arch not in done:
            done[arch] = _convert(arch, tmp_path_factory.mktemp(f"coreml-llm-{arch}"))
        return done[arch]

    return get


@pytest.fixture(scope="module", params=ARCHITECTURES)
def converted(request, conversions):
    return conversions(request.param)


@pytest.fixture(scope="module")
def compressed(conversions):
    return conversions(COMPRESSED_ARCH)


def _convert(arch: str, base) -> dict:
    """float32, plus float16/int8/int4 for COMPRESSED_ARCH."""
    from transformers import AutoConfig

    from mobilekit.llm.coreml_convert import convert_llm_coreml
    from mobilekit.llm.kv_decoder import decoder_spec

    model_dir = make_tiny_lm(base / "model", arch)
    spec = decoder_spec(AutoConfig.from_pretrained(model_dir), CONTEXT, [PREFILL])
    variants = ["float32", "float16", "int8", "int4"] if arch == COMPRESSED_ARCH else ["float32"]
    reports: dict = {}
    packages = convert_llm_coreml(model_dir, base / "out", spec=spec, variants=variants, int4_block_size=32,
                                  metadata=METADATA, weight_threshold=WEIGHT_THRESHOLD, reports=reports)
    return {"arch": arch, "model_dir": model_dir, "spec": spec, "packages": packages, "reports": reports,
            "reference": _reference_logits(model_dir)}


def _reference_logits(model_dir):
    import torch

    from mobilekit.llm.kv_decoder import load_causal_lm

    with torch.no_grad():
        return load_causal_lm(model_dir)(input_ids=torch.tensor([TOKENS])).logits[0].numpy()


def _drive(package):
    """Prefill the prompt (chunked and padded), then decode the rest teacher-forced: logits [16, vocab]."""
    from mobilekit.llm.coreml_runner import CoremlDecoder

    return CoremlDecoder.open(package).teacher_forced_logits(list(TOKENS), prefill=PROMPT)


def test_float32_matches_hugging_face(converted):
    got = _drive(converted["packages"]["float32"])
    assert got.shape == converted["reference"].shape
    assert np.abs(got - converted["reference"]).max() < 1e-4


def test_compressed_variants_stay_close(compressed):
    ref = compressed["reference"]
    scale = np.abs(ref).max()
    for variant, bound in RELATIVE_BOUNDS.items():
        got = _drive(compressed["packages"][variant])
        assert np.abs(got - ref).max() < bound * scale, variant
        agree = int((got.argmax(-1) == ref.argmax(-1)).sum())
        assert agree >= (len(TOKENS) - 2 if variant == "int4" else len(TOKENS)), (variant, agree)


def test_package_layout_and_metadata(compressed):
    from mobilekit.llm.coreml_convert import read_llm_coreml_metadata
    from mobilekit.mil import list_ops

    spec = compressed["spec"]
    caches = spec.cache_names()
    for variant, package in compressed["packages"].items():
        meta = read_llm_coreml_metadata(package)
        assert meta["spec"] == spec and meta["default_function"] == "decode"
        assert set(meta["functions"]) == {"prefill_8", "decode"}
        for function in meta["functions"].values():
            assert function["inputs"] == ["tokens", "input_pos", *caches]
            assert function["outputs"] == ["logits", *[c + "_out" for c in caches]]
        ours = meta["mobilekit"]
        assert ours["task"] == "text-generation" and ours["variant"] == variant
        assert ours["tokenizer"] == METADATA["tokenizer"] and meta["author"] == "mobilekit tests"
        assert ours["cache_dtype"] == ("float32" if variant == "float32" else "float16")
        assert ours["float_weights"] == [] and compressed["reports"][variant].float_weights == []
        quantized = "constexpr_blockwise_shift_scale" in list_ops(package)
        assert quantized == (variant in ("int8", "int4")), variant


def test_float16_programs_keep_rotary_angles_in_float32(compressed):
    """position x frequency in float16 is off by up to 0.06 rad at position 255 (see _fp16_precision)."""
    from mobilekit.mil.package import dtype_name, load_model_spec

    program = load_model_spec(compressed["packages"]["float16"]).mlProgram
    for function in program.functions.values():
        ops = function.block_specializations[function.opset].operations
        angles = [op for op in ops if op.type in ("cos", "sin")]
        assert angles and all(dtype_name(op.outputs[0].type.tensorType.dataType) == "FLOAT32" for op in angles)
        assert any(dtype_name(op.outputs[0].type.tensorType.dataType) == "FLOAT16" for op in ops if op.type == "linear")


def test_float_weights_lists_what_compression_skipped(compressed):
    """The scan behind every report: on the uncompressed float16 package it finds every dense
    weight (per-block int4 skips such weights silently when a dimension is not a multiple of
    the block size; the int8/int4 packages above report none)."""
    from mobilekit.llm.coreml_convert import float_weights

    found = float_weights(compressed["packages"]["float16"], WEIGHT_THRESHOLD)
    decode = {w["weight"] for w in found if w["function"] == "decode"}
    assert {w["op_type"] for w in found} == {"linear", "gather"}
    # per layer: q, k, v, o, gate, up, down (k/v: 16 x 32 = 512, at the threshold, stay float
    # by design); plus the embedding table, which the tied head reuses
    assert len(decode) == 2 * 5 + 1 and any("embed_tokens" in w for w in decode)


def test_functions_share_weights(compressed):
    """Multifunction packages store each weight once; the runner decompresses it once."""
    import torch  # noqa: F401  (the reference model's parameter count)

    from mobilekit.llm.coreml_runner import CoreMLLlmRunner
    from mobilekit.llm.kv_decoder import load_causal_lm
    from mobilekit.mil.package import weights_dir_of

    package = compressed["packages"]["float32"]
    params = sum(p.numel() for p in load_causal_lm(compressed["model_dir"]).parameters())
    weight_bytes = sum(f.stat().st_size for f in weights_dir_of(package).iterdir())
    assert weight_bytes < 1.2 * 4 * params  # two functions, one copy
    runner = CoreMLLlmRunner(compressed["packages"]["int4"])
    decode, prefill = runner.program("decode"), runner.program("prefill_8")
    ids = {id(v) for v in decode.constants.values() if getattr(v, "size", 0) > WEIGHT_THRESHOLD}
    big = [v for v in prefill.constants.values() if getattr(v, "size", 0) > WEIGHT_THRESHOLD]
    assert big and all(id(v) in ids for v in big)


@pytest.mark.parametrize("arch", ["llama", "gemma3_text"])
def test_generate_matches_greedy_hugging_face(conversions, arch):
    converted = conversions(arch)
    import torch

    from mobilekit.llm.coreml_runner import CoremlDecoder
    from mobilekit.llm.kv_decoder import load_causal_lm

    model = load_causal_lm(converted["model_dir"])
    ids = list(TOKENS[:PROMPT])
    with torch.no_grad():
        for _ in range(12):
            ids.append(int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax()))
    got = CoremlDecoder.open(converted["packages"]["float32"]).greedy(list(TOKENS[:PROMPT]), 12)
    assert got == ids[PROMPT:]


def test_run_coreml_llm_names_outputs_like_the_inputs(conversions):
    converted = conversions("gpt2")
    from mobilekit.llm.coreml_runner import run_coreml_llm
    from mobilekit.llm.kv_decoder import sample_inputs

    spec = converted["spec"]
    inputs = {k: v.numpy() for k, v in sample_inputs(spec, 1).items()}
    out = run_coreml_llm(converted["packages"]["float32"], "decode", inputs)
    assert list(out) == ["logits", *spec.cache_names()]
    assert out["logits"].shape == (1, 1, spec.vocab_size)
    written = out["kv_cache_k_0"][0, :, 0]  # position 0 was written, the rest stays zero
    assert np.abs(written).max() > 0 and not out["kv_cache_k_0"][0, :, 1:].any()


# --- cheap checks (no conversion) ----------------------------------------------------------------


def test_trace_failure_names_the_signature(monkeypatch):
    import torch

    import mobilekit.llm.kv_decoder as kv
    from mobilekit.errors import ConversionError
    from mobilekit.llm.coreml_convert import _trace_all

    class Broken(torch.nn.Module):
        def forward(self, tokens, input_pos, **caches):
            raise RuntimeError("unsupported rotary scaling")

    monkeypatch.setattr(kv, "build_kv_decoder", lambda model, spec: Broken())
    spec = kv.DecoderSpec("llama", 1, 1, 4, 10, 8, (4,))
    with pytest.raises(ConversionError) as info:
        _trace_all(None, spec)
    assert "prefill_4" in info.value.message and "unsupported rotary scaling" in info.value.message


def test_bad_requests_are_input_errors(tmp_path):
    from mobilekit.errors import ModelInputError
    from mobilekit.llm.coreml_convert import convert_llm_coreml
    from mobilekit.llm.kv_decoder import DecoderSpec

    spec = DecoderSpec("llama", 2, 2, 8, 300, 32, (8,))
    with pytest.raises(ModelInputError, match="unknown Core ML LLM variant"):
        convert_llm_coreml(tmp_path, tmp_path / "out", spec=spec, variants=["int3"])
    with pytest.raises(ModelInputError, match="no config.json"):
        convert_llm_coreml(tmp_path, tmp_path / "out", spec=spec, variants=["float16"])


def test_spec_must_describe_the_model(compressed):
    from dataclasses import replace

    from mobilekit.errors import ModelInputError
    from mobilekit.llm.coreml_convert import convert_llm_coreml

    stale = replace(compressed["spec"], kv_heads=compressed["spec"].kv_heads * 2)
    with pytest.raises(ModelInputError, match="kv_heads"):
        convert_llm_coreml(compressed["model_dir"], compressed["model_dir"].parent / "stale", spec=stale,
                           variants=["float32"])


# --- interpreter abilities the runner relies on ------------------------------------------------


def test_interpreter_selects_functions(compressed):
    from mobilekit.mil import MilFormatError, MilProgram, list_ops
    from mobilekit.mil.interpreter import function_names

    package = compressed["packages"]["float16"]
    assert sorted(function_names(package)) == ["decode", "prefill_8"]
    assert MilProgram.from_package(package).function_name == "decode"  # no "main": the default function
    with pytest.raises(MilFormatError, match="no 'prefill_3' function"):
        MilProgram.from_package(package, function="prefill_3")
    assert set(list_ops(package, function="decode")) <= set(list_ops(package))


def test_widened_shared_constants_change_no_result(compressed):
    """The runner's load options (weights widened once, shared by functions) are exact."""
    from mobilekit.mil import MilProgram
    from mobilekit.llm.kv_decoder import sample_inputs

    rng = np.random.default_rng(0)
    inputs = {k: v.numpy() for k, v in sample_inputs(compressed["spec"], 1).items()}
    inputs = {k: (rng.standard_normal(v.shape).astype(np.float16) if k.startswith("kv_cache") else v)
              for k, v in inputs.items()}
    inputs["input_pos"][:] = 5
    for variant in ("float16", "int4"):
        package = compressed["packages"][variant]
        plain = MilProgram.from_package(package, function="decode").run(inputs)
        fast = MilProgram.from_package(package, function="decode", constant_cache={}, widen_constants=True).run(inputs)
        assert list(plain) == list(fast)
        assert all(np.array_equal(plain[k], fast[k]) for k in plain), variant


@pytest.mark.parametrize("nbits", [1, 2, 3, 4, 6])
def test_unpack_bits_matches_the_bitwise_reference(nbits):
    from mobilekit.mil.package import unpack_bits

    rng = np.random.default_rng(nbits)
    for count in (1, 7, 64, 1001):
        data = rng.integers(0, 256, (count * nbits + 7) // 8 + 2, dtype=np.uint8).tobytes()
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")[:nbits * count]
        expected = (bits.reshape(count, nbits).astype(np.int32) << np.arange(nbits)).sum(axis=1)
        assert np.array_equal(unpack_bits(data, nbits, count), expected.astype(np.uint8))
        signed = np.where(expected >= 1 << (nbits - 1), expected - (1 << nbits), expected).astype(np.int8)
        assert np.array_equal(unpack_bits(data, nbits, count, signed=True), signed)


def test_float16_keeps_rms_statistics_in_float32(tmp_path):
    """A residual stream in the thousands (SmolLM2 reaches ~12,000): x^2 overflows float16, so the
    norms' statistics must stay float32 or every logit is garbage (top-1 0% without it)."""
    import torch

    from mobilekit.llm.coreml_convert import convert_llm_coreml
    from mobilekit.llm.coreml_runner import CoremlDecoder
    from mobilekit.llm.kv_decoder import decoder_spec, load_causal_lm
    from tests.tiny_lm import make_tiny_lm

    folder = make_tiny_lm(tmp_path / "loud", "llama")
    model = load_causal_lm(folder)
    with torch.no_grad():
        model.model.embed_tokens.weight.mul_(30000.0)  # |x| up to ~2,600: x^2 ~ 7e6 > 65,504
    model.save_pretrained(str(folder))
    spec = decoder_spec(model.config, 32, [8])
    package = convert_llm_coreml(folder, tmp_path / "out", spec=spec, variants=["float16"], int4_block_size=32,
                                 weight_threshold=512)["float16"]
    tokens = list(range(5, 17))
    with torch.no_grad():
        reference = model(torch.tensor([tokens])).logits[0].numpy()
    got = CoremlDecoder.open(package).teacher_forced_logits(tokens, prefill=8)
    assert np.isfinite(got).all()
    assert (got.argmax(1) == reference.argmax(1)).mean() == 1.0
    assert np.abs(got - reference).max() < 1e-3 * np.abs(reference).max()

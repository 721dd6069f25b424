"""text-generation benchmarks on a tiny llama: host generation figures against PyTorch, ARM64
instructions per prefill and per decoded token under qemu, and the baseline check per token."""

from __future__ import annotations

import json

import pytest

from mobilekit.errors import ConfigError
from tests.llm.bench_project import DECODE_TOKENS, PREFILL, PROMPT_TOKENS, VARIANTS, built_llm_project, emulator_reason
from tests.conftest import toolchain_missing


@pytest.fixture(scope="module")
def bench():
    return json.loads((built_llm_project() / "build" / "bench" / "bench.json").read_text())


def test_prompts_are_real_text_cut_to_the_exact_length():
    from mobilekit.llm.bench_llm import fixed_length_prompts

    texts = [[1, 2, 3], [4, 5, 6, 7], [8, 9]]
    prompts = fixed_length_prompts(texts, 5, 3)
    assert prompts == [[1, 2, 3, 4, 5], [4, 5, 6, 7, 8], [8, 9, 1, 2, 3]]  # each starts where a text starts
    assert fixed_length_prompts([[1, 2]], 5, 2) == [[1, 2, 1, 2, 1]] * 2  # a short corpus repeats
    with pytest.raises(ConfigError):
        fixed_length_prompts([], 4, 1)


def test_a_prompt_and_reply_longer_than_the_cache_is_a_config_error():
    from mobilekit.llm.bench_llm import check_fits

    check_fits({"context_length": 48}, 40, 8)
    with pytest.raises(ConfigError, match="do not fit the KV cache of 48"):
        check_fits({"context_length": 48}, 40, 9)


@pytest.mark.slow
def test_host_figures_exist_and_agree_with_the_timings(bench):
    host = bench["host"]
    assert set(host["models"]) == {"torch", *(f"tflite-{v}" for v in VARIANTS)}
    assert host["protocol"]["threads"] == 1 and host["protocol"]["prompt_tokens"] == PROMPT_TOKENS
    assert bench["prompts"]["source"] and bench["prompts"]["example"].strip()
    torch_speed = host["models"]["torch"]["decode_tokens_per_s_p50"]
    for key, m in host["models"].items():
        assert m["runs"] == 5
        assert 0 < m["ttft_ms_p50"] <= m["ttft_ms_p90"]
        assert m["decode_tokens_per_s_p50"] == pytest.approx(1000 * DECODE_TOKENS / m["decode_ms_p50"])
        assert m["decode_tokens_per_s_p90"] <= m["decode_tokens_per_s_p50"]  # p90: the slow tail
        assert m["decode_ms_per_token_p50"] == pytest.approx(m["decode_ms_p50"] / DECODE_TOKENS)
        assert m["ratio_to_pytorch"]["decode_tokens_per_s_p50"] == pytest.approx(m["decode_tokens_per_s_p50"] / torch_speed)
        assert m["peak_memory_growth_bytes"] > 0 and m["load_ms"] > 0 and m["file_bytes"] > 1000
        assert len(m["first_run_tokens"]) == DECODE_TOKENS + 1
    float32 = host["models"]["tflite-float32"]
    assert float32["same_tokens_as_pytorch"] is True  # float32 computes what torch computes
    assert float32["file_bytes"] == (built_llm_project() / "build" / "convert" / "tflite" / "model_float32.tflite").stat().st_size


@pytest.mark.slow
def test_arm64_counts_repeat_exactly_and_a_token_costs_less_than_a_prefill(bench):
    if emulator_reason():
        toolchain_missing(emulator_reason())
    emulator = bench["emulator"]
    assert emulator["prefill_length"] == max(PREFILL) and emulator["threads"] == 1
    for name in (f"tflite-{v}" for v in VARIANTS):
        v = emulator["variants"][name]
        first, second = v["repeat_counts"]
        assert first == second and v["deterministic"] is True  # two whole guest runs, identical counts
        assert len(first) == 1 + 2  # one prefill window, emulator_runs decode windows
        assert 0 < v["instructions_per_token"] < v["instructions_per_prefill"]
        assert v["instructions_per_inference"] == v["instructions_per_token"] and v["unit"] == "decoded token"
        assert v["outputs_match"] is True and v["arm_vs_host_top1_agreement"] == 1.0
        assert v["breakdown"] and abs(sum(g["share"] for g in v["breakdown"]) - 1.0) < 1e-6


@pytest.mark.slow
def test_the_baseline_check_compares_instructions_per_decoded_token(bench):
    from mobilekit.bench.regression import compare

    if emulator_reason():
        toolchain_missing(emulator_reason())
    baseline = json.loads(json.dumps(bench))
    for v in baseline["emulator"]["variants"].values():
        v["instructions_per_inference"] *= 0.5  # the current run now costs twice the baseline's
    lines = compare(bench, baseline, 5.0)
    assert {line["variant"] for line in lines} == {f"tflite-{v}" for v in VARIANTS}
    assert all(not line["passed"] and line["unit"] == "decoded token" for line in lines)
    assert all(line["passed"] for line in compare(bench, bench, 5.0))
    for v in baseline["emulator"]["variants"].values():
        del v["unit"]  # an encoder's bench.json: per inference
    with pytest.raises(ConfigError, match="per inference, this run per decoded token"):
        compare(bench, baseline, 5.0)

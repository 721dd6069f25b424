"""Causal LMs through export -> convert (TFLite) -> verify, on tiny random models of every
supported architecture, plus the bad inputs a user can give."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mobilekit.errors import ModelInputError
from tests.conftest import run_cli, write_toml
from tests.tiny_lm import ARCHITECTURES, CORPUS, make_tiny_lm, train_tiny_lm


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-lms")
    return {arch: train_tiny_lm(make_tiny_lm(root / arch, arch, layers=2 if arch != "gemma3_text" else 3), steps=80)
            for arch in ARCHITECTURES}


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_kv_cache_decode_equals_the_full_forward(tiny_models, arch):
    """Prefill (padded, chunked over two signatures) then decode through the explicit cache gives
    the logits of one full Hugging Face forward."""
    from mobilekit.llm.kv_decoder import build_kv_decoder, decoder_spec, load_causal_lm
    from mobilekit.llm.torch_runner import full_logits
    from mobilekit.stages.llm import _kv_check  # the export stage's own check
    from transformers import AutoTokenizer

    model = load_causal_lm(tiny_models[arch])
    spec = decoder_spec(model.config, context_length=40, prefill_lengths=[4, 8])
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_models[arch]))
    text = "the cat sat on the mat and the dog sat on the rug. one two three four five six."
    diff, scale = _kv_check(model, build_kv_decoder(model, spec), spec, tokenizer, [text])
    assert scale > 0.1
    assert diff < 1e-4 * max(1.0, scale)
    assert len(full_logits(model, tokenizer(text).input_ids)) > 16  # the prompt spans both chunk sizes


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_every_architecture_converts_and_verifies(tiny_models, arch, tmp_path):
    from mobilekit.llm.kv_decoder import decoder_spec, load_causal_lm
    from mobilekit.llm.tflite_convert import convert_llm_tflite
    from mobilekit.llm.tflite_runner import TfliteDecoder
    from mobilekit.llm.verify_llm import Budget, reference, verify_variant
    from transformers import AutoTokenizer

    model = load_causal_lm(tiny_models[arch])
    spec = decoder_spec(model.config, context_length=48, prefill_lengths=[8])
    variants = ["float32", "int4"] if arch == "llama" else ["float32"]
    result = convert_llm_tflite(tiny_models[arch], tmp_path, spec=spec, variants=variants, int4_block_size=32)
    assert result.guard_max_abs_diff < 1e-3
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_models[arch]))
    texts = [tokenizer(t).input_ids for t in ("the cat sat on the mat and the dog sat on the rug.",
                                               "paris is the capital of france. rome is the capital of italy.")]
    prompts = [t[:5] for t in texts]
    ref = reference(model, texts, prompts, 12, stop_ids=set())
    report = verify_variant("tflite-float32", TfliteDecoder.open(result.paths["float32"], spec), "float32", ref,
                            texts, prompts, 12, set(), Budget(1.0, 1.0))
    assert report.ships, report.to_dict()
    assert report.metrics["greedy_identical"] == len(prompts)
    assert report.metrics["max_abs_diff"] < 1e-3 * max(1.0, ref.logit_scale)
    assert abs(report.metrics["perplexity_increase_percent"]) < 0.01


def test_a_broken_variant_is_rejected_by_the_perplexity_budget(tiny_models, tmp_path):
    """Another model's weights in the variant's place: perplexity rises, the budget rejects it."""
    from mobilekit.llm.kv_decoder import decoder_spec, load_causal_lm
    from mobilekit.llm.tflite_convert import convert_llm_tflite
    from mobilekit.llm.tflite_runner import TfliteDecoder
    from mobilekit.llm.verify_llm import Budget, reference, verify_variant
    from transformers import AutoTokenizer

    impostor = make_tiny_lm(tmp_path / "impostor", "llama", seed=7)  # untrained, same shapes
    model = load_causal_lm(tiny_models["llama"])
    spec = decoder_spec(model.config, context_length=48, prefill_lengths=[8])
    broken = convert_llm_tflite(impostor, tmp_path / "out", spec=spec, variants=["float32"], int4_block_size=32).paths["float32"]
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_models["llama"]))
    texts = [tokenizer(text).input_ids for text in CORPUS[:4]]  # text the real model knows
    ref = reference(model, texts, [t[:4] for t in texts], 8, stop_ids=set())
    # judged as a quantized variant: only the budgets decide, no float32 logits tolerance
    report = verify_variant("tflite-int4", TfliteDecoder.open(broken, spec), "int4", ref, texts,
                            [t[:4] for t in texts], 8, set(), Budget(10.0, 0.5))
    assert not report.ships
    reasons = " ".join(report.to_dict()["reasons"])
    assert "perplexity" in reasons and "budget 10%" in reasons


def test_a_prompt_longer_than_the_cache_is_a_clear_error(tiny_models, tmp_path):
    from mobilekit.llm.kv_decoder import decoder_spec, load_causal_lm
    from mobilekit.llm.tflite_convert import convert_llm_tflite
    from mobilekit.llm.tflite_runner import TfliteDecoder

    model = load_causal_lm(tiny_models["gpt2"])
    spec = decoder_spec(model.config, context_length=16, prefill_lengths=[8])
    path = convert_llm_tflite(tiny_models["gpt2"], tmp_path, spec=spec, variants=["float32"], int4_block_size=32).paths["float32"]
    decoder = TfliteDecoder.open(path, spec)
    with pytest.raises(ModelInputError) as info:
        decoder.greedy(list(range(3, 20)), 4)
    assert "do not fit the KV cache of 16" in info.value.message
    assert "context_length" in info.value.hint
    assert len(decoder.greedy(list(range(3, 12)), 4)) == 4  # what fits still runs


def _project(tmp_path, model_path, **sections):
    base = {
        "project": {"name": "Tiny chat"},
        "model": {"path": str(model_path), "task": "text-generation", "sequence_length": 32},
        "generation": {"context_length": 48, "prefill_lengths": [8, 16]},
        "convert": {"tflite": ["float32", "int4"], "coreml": []},
        "verify": {"samples": 4, "greedy_prompts": 3, "greedy_tokens": 6},
        "bench": {"host": False, "emulator": False},
        # The SDKs of a language model are built and tested in tests/sdk_llm/test_llm_sdk.py.
        "android": {"enabled": False},
        "ios": {"enabled": False},
    }
    for section, table in sections.items():
        base.setdefault(section, {}).update(table)
    return write_toml(tmp_path / "mobilekit.toml", base)


def test_build_runs_the_llm_stages_and_a_rerun_does_nothing(tiny_models, tmp_path):
    config = _project(tmp_path, tiny_models["qwen3"], convert={"coreml": ["float32"]})
    first = run_cli("build", "-c", str(config), "--json")
    assert first.returncode == 0, first.stderr
    results = json.loads((tmp_path / "build" / "verify" / "results.json").read_text())
    assert set(results["variants"]) == {"tflite-float32", "tflite-int4", "coreml-float32"}
    assert {"tflite-float32", "coreml-float32"} <= set(results["shipping"])
    assert (tmp_path / "build" / "report" / "report.html").is_file()
    decoder = json.loads((tmp_path / "build" / "export" / "decoder.json").read_text())
    assert decoder["spec"]["signatures"] == ["prefill_8", "prefill_16", "decode"]
    second = run_cli("build", "-c", str(config), "--json")
    assert second.returncode == 0, second.stderr
    outcomes = {s["stage"]: s["outcome"] for s in json.loads(second.stdout)["stages"]}
    assert outcomes["export"] == outcomes["convert"] == outcomes["verify"] == "cached", outcomes
    assert "ran" not in outcomes.values(), outcomes


def test_strict_build_rejects_a_variant_over_budget_with_exit_7(tiny_models, tmp_path):
    config = _project(tmp_path, tiny_models["llama"], verify={"perplexity_budget": 0.0, "min_greedy_agreement": 1.0})
    result = run_cli("build", "-c", str(config), "--strict", "--to", "verify")
    assert result.returncode == 7, result.stderr
    assert "tflite-int4" in result.stderr and "perplexity" in result.stderr


def test_unsupported_architecture_and_gguf_paths_are_input_errors(tmp_path):
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    result = run_cli("export", "-c", str(_project(tmp_path, bert)))
    assert result.returncode == 4, result.stderr
    assert "'bert'" in result.stderr and "llama" in result.stderr and "gpt2" in result.stderr

    gguf = tmp_path / "SmolLM2.Q4_1.gguf"
    gguf.write_bytes(b"GGUF\x03\x00\x00\x00")
    result = run_cli("build", "-c", str(_project(tmp_path, gguf)))
    assert result.returncode == 4, result.stderr
    assert "GGUF file" in result.stderr and "save_pretrained" in result.stderr

    folder = tmp_path / "only-gguf"
    folder.mkdir()
    shutil.copy(gguf, folder / gguf.name)
    result = run_cli("export", "-c", str(_project(tmp_path, folder)))
    assert result.returncode == 4, result.stderr
    assert "GGUF file" in result.stderr


def test_truncated_weights_are_an_input_error(tiny_models, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_models["llama"], broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    result = run_cli("export", "-c", str(_project(tmp_path, broken)))
    assert result.returncode == 4, result.stderr
    assert "model.safetensors" in result.stderr and "save_pretrained" in result.stderr


def test_variant_choices_depend_on_the_task(tiny_models, tmp_path):
    result = run_cli("export", "-c", str(_project(tmp_path, tiny_models["llama"], convert={"tflite": ["full-int8"]})))
    assert result.returncode == 3
    assert "full-int8" in result.stderr and "dynamic-int8 or int4" in result.stderr
    result = run_cli("export", "-c", str(_project(tmp_path, tiny_models["llama"], generation={"prefill_lengths": [64]})))
    assert result.returncode == 3
    assert "prefill_lengths" in result.stderr


def test_prefill_plan_covers_any_prompt_length():
    from mobilekit.llm.decoding import prefill_plan
    from mobilekit.llm.kv_decoder import DecoderSpec

    spec = DecoderSpec("llama", 1, 1, 8, 10, 256, (8, 32))
    assert prefill_plan(spec, 5) == [8]
    assert prefill_plan(spec, 32) == [32]
    assert prefill_plan(spec, 70) == [32, 32, 8]
    assert prefill_plan(spec, 0) == []
    assert np.sum(prefill_plan(spec, 100)) >= 100


def test_a_chat_line_without_messages_stops_finetune_with_exit_4(tiny_models, tmp_path):
    data = tmp_path / "chat.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'
                    '{"text": "no messages here"}\n', encoding="utf-8")
    config = _project(tmp_path, tiny_models["llama"], data={"path": str(data)}, finetune={"enabled": True})
    result = run_cli("finetune", "-c", str(config))
    assert result.returncode == 4, result.stderr
    assert "line 2" in result.stderr and "messages" in result.stderr
    assert not (tmp_path / "build" / "finetune").exists()  # nothing half-written

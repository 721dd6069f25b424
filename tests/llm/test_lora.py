"""LoRA fine-tuning of causal LMs: it learns, the merged folder is the adapter model, it is
reproducible, and perplexity is what the model's own loss says."""

from __future__ import annotations

import json
import logging
import math

import pytest
import torch

from mobilekit.errors import ConfigError, ModelInputError
from mobilekit.llm.lora import attach_lora, finetune_lora, fit, linear_layer_names, save_lm_folder
from mobilekit.llm.model_folder import load_checked
from mobilekit.llm.perplexity import perplexity, text_windows
from tests.tiny_lm import make_tiny_lm, write_chat_jsonl

LOG = logging.getLogger("test")
pytestmark = pytest.mark.usefixtures("one_thread")
IDS = torch.tensor([[1, 85, 91, 85, 86, 71, 79, 201, 59, 81, 87, 261, 84, 71], [1, 87, 85, 71, 84, 201, 89, 74, 269, 281, 223, 19, 223, 82]])


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return make_tiny_lm(tmp_path_factory.mktemp("llama"), "llama")


@pytest.fixture(scope="module")
def chat(tmp_path_factory):
    return write_chat_jsonl(tmp_path_factory.mktemp("data") / "chat.jsonl")


def run(model_dir, data, out_dir, **overrides):
    settings = dict(rank=4, alpha=8, dropout=0.0, epochs=3, batch_size=4, learning_rate=1e-2, patience=1,
                    max_length=96, validation_fraction=0.15, test_fraction=0.15, seed=0, log=LOG)
    return finetune_lora(model_dir, out_dir, data, **{**settings, **overrides})


@pytest.fixture(scope="module")
def tuned(llama, chat, tmp_path_factory):
    root = tmp_path_factory.mktemp("tuned")
    return run(llama, chat, root / "merged", adapter_dir=root / "adapter"), root


def logits(model, ids=IDS):
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_lora_lowers_validation_and_test_perplexity(tuned):
    result, _ = tuned
    assert (result.train_examples, result.validation_examples, result.test_examples) == (16, 4, 4)
    assert result.perplexity_after < 0.9 * result.perplexity_before
    assert result.test_perplexity_after < result.test_perplexity_before
    assert result.epochs_run == len(result.history) == 3 and result.best_epoch == 3
    assert result.perplexity_after == pytest.approx(result.history[-1]["validation_perplexity"], rel=1e-6)
    assert 0 < result.trainable_parameters < result.total_parameters
    assert result.target_modules == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    assert json.dumps(result.to_dict())


@pytest.mark.filterwarnings("ignore::FutureWarning")  # peft calls a deprecated transformers 5 helper
def test_the_merged_folder_loads_without_peft_and_equals_the_adapter_model(tuned, llama):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, root = tuned
    merged_dir = root / "merged"
    names = {p.name for p in merged_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
            "generation_config.json"} <= names
    assert not names & {"adapter_config.json", "adapter_model.safetensors"}
    assert "quantization_config" not in json.loads((merged_dir / "config.json").read_text())
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
    assert not any("lora" in name for name, _ in merged.named_parameters())
    adapted = PeftModel.from_pretrained(load_checked(llama), root / "adapter").eval()
    assert (logits(merged) - logits(adapted)).abs().max() < 1e-4
    assert (logits(merged) - logits(load_checked(llama))).abs().max() > 1e-3  # the adapters did change the model
    assert AutoTokenizer.from_pretrained(merged_dir).chat_template


def test_same_seed_same_model(llama, chat, tmp_path):
    a = run(llama, chat, tmp_path / "a", epochs=1)
    b = run(llama, chat, tmp_path / "b", epochs=1)
    c = run(llama, chat, tmp_path / "c", epochs=1, seed=1)
    assert a.history == b.history and a.perplexity_after == b.perplexity_after
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()
    assert c.history != a.history


def test_gpt2_conv1d_layers_are_adapted_and_merged(tmp_path):
    from transformers import AutoModelForCausalLM

    folder = make_tiny_lm(tmp_path / "gpt2", "gpt2")
    model = load_checked(folder)
    assert linear_layer_names(model) == ["c_attn", "c_fc", "c_proj"]
    adapted = attach_lora(model, rank=4, alpha=8, dropout=0.0, target_modules=None, seed=0)
    with torch.no_grad():  # B starts at zero: give the adapters something to merge
        for name, p in adapted.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.5)
    expected = logits(adapted.eval())
    save_lm_folder(adapted.merge_and_unload(), tmp_path / "merged", source_dir=folder)
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged", dtype=torch.float32).eval()
    assert (logits(merged) - expected).abs().max() < 1e-4
    assert (logits(merged) - logits(load_checked(folder))).abs().max() > 1e-3


def test_target_modules_are_checked(llama):
    model = load_checked(llama)
    assert "lm_head" not in linear_layer_names(model)
    with pytest.raises(ConfigError) as caught:
        attach_lora(model, rank=4, alpha=8, dropout=0.0, target_modules=["q_proj", "lm_head"], seed=0)
    assert "'lm_head'" in caught.value.message and "q_proj" in caught.value.hint and caught.value.EXIT_CODE == 3


def test_early_stopping_restores_the_best_epoch():
    model = torch.nn.Linear(2, 1)
    snapshots, scores = [], iter([1.0, 2.0, 3.0, 4.0])

    def validation_loss():
        snapshots.append(model.weight.detach().clone())
        return next(scores)

    from mobilekit.progress import SilentProgress

    result = fit(model, n=8, step_loss=lambda idx: model(torch.ones(len(idx), 2)).pow(2).mean(), validation_loss=validation_loss,
                 epochs=4, batch_size=4, learning_rate=0.1, patience=1, seed=0, progress=SilentProgress(), label="t", log=LOG)
    assert result.stopped_early and len(result.history) == 2 and result.best_epoch == 1
    assert torch.equal(model.weight, snapshots[0]) and not torch.equal(model.weight, snapshots[1])


def test_quantization_config_is_not_carried_over(llama, tmp_path):
    model = load_checked(llama)
    model.config.quantization_config = {"quant_method": "bitsandbytes", "load_in_4bit": True}
    save_lm_folder(model, tmp_path / "out", source_dir=llama)
    assert "quantization_config" not in json.loads((tmp_path / "out" / "config.json").read_text())


def test_too_little_data_and_bad_settings_are_refused(llama, tmp_path):
    small = write_chat_jsonl(tmp_path / "small.jsonl", rows=2)
    with pytest.raises(ModelInputError) as caught:
        run(llama, small, tmp_path / "out")
    assert "at least 3" in caught.value.message
    with pytest.raises(ConfigError):
        run(llama, small, tmp_path / "out", rank=0)
    with pytest.raises(ConfigError):
        run(llama, small, tmp_path / "out", validation_fraction=0.6, test_fraction=0.5)


def test_perplexity_is_the_exponent_of_the_models_own_loss(llama):
    model = load_checked(llama)
    ids = IDS[0].tolist()
    with torch.no_grad():
        loss = float(model(input_ids=IDS[:1], labels=IDS[:1]).loss)
    assert perplexity(model, [ids]) == pytest.approx(math.exp(loss), rel=1e-5)
    labels = [-100] * 8 + ids[8:]  # only the tail counts
    with torch.no_grad():
        tail = float(model(input_ids=IDS[:1], labels=torch.tensor([labels])).loss)
    assert perplexity(model, [(ids, labels)]) == pytest.approx(math.exp(tail), rel=1e-5)


def test_padding_does_not_change_perplexity(llama):
    model = load_checked(llama)
    sequences = [IDS[0].tolist(), IDS[1].tolist()[:5], IDS[1].tolist()]
    assert perplexity(model, sequences, batch_size=1) == pytest.approx(perplexity(model, sequences, batch_size=3), rel=1e-5)


def test_text_windows_cut_long_texts(llama):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(llama)
    text = "the cat sat on the mat and the dog sat on the rug. " * 5
    n = len(tokenizer(text)["input_ids"])
    windows = text_windows(tokenizer, [text, "a"], 16)
    assert [len(w) for w in windows] == [16] * (n // 16) + ([n % 16] if n % 16 >= 2 else [])
    assert sum(windows, [])[: 16 * (n // 16)] == tokenizer(text)["input_ids"][: 16 * (n // 16)]

"""What both language-model SDK generators receive, and how the generate stage assembles it.

Like ``SdkInputs`` for encoders: one object, built once, rendered by the Android and the iOS
generator, so both platforms ship the same tokenizer asset, chat template, stop tokens and
goldens. The goldens are text files the generated JUnit and XCTest suites read:

* ``bpe_corpus.txt`` / ``bpe_goldens.txt``: the seeded tokenizer corpus (>= 10,000 random strings
  from all planes plus the hard cases) and the ids and texts of the model's own Hugging Face
  tokenizer (``mobilekit.sdk.bpe_goldens``);
* ``sampling_chat_goldens.txt``: the random stream, ``det_exp``, the sampler on seeded hard-case
  logits, and the model's chat template rendered by transformers' ``apply_chat_template``
  (``mobilekit.llm.sdk_goldens``);
* ``loop_goldens.txt``: the generation loop run by Python on the shipped model
  (``mobilekit.llm.loop_goldens``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mobilekit.errors import ModelInputError
from mobilekit.llm.chat_template import ChatTemplateShape
from mobilekit.llm.kv_decoder import DecoderSpec

GOLDEN_SEED = 0


@dataclass(frozen=True)
class LlmSdkInputs:
    project_name: str
    version: str
    mobilekit_version: str
    model_sha256: str
    model_type: str
    spec: DecoderSpec
    stop_token_ids: list[int]
    chat_shape: ChatTemplateShape | None  # None: the model has no chat template
    tokenizer_asset: bytes  # tokenizer.mkbpe
    goldens: dict[str, str] = field(default_factory=dict)  # file name -> text
    golden_counts: dict[str, int] = field(default_factory=dict)
    # Android
    android_package: str = ""
    android_class_name: str = ""
    android_group_id: str = ""
    android_artifact_id: str = ""
    android_min_sdk: int = 23
    tflite_model: Path | None = None
    tflite_variant: str | None = None
    # iOS
    ios_module: str = ""
    ios_class_name: str = ""
    coreml_model: Path | None = None
    coreml_variant: str | None = None
    task: str = "text-generation"

    def template_facts(self) -> dict:
        """What both platforms' templates say about the model (the model class, READMEs, test counts)."""
        return {
            "model_type": self.model_type,
            "context_length": self.spec.context_length,
            "vocab_size": self.spec.vocab_size,
            "num_layers": self.spec.num_layers,
            "prefill_lengths": list(self.spec.prefill_lengths),
            "stop_token_ids": list(self.stop_token_ids),
            "has_chat": self.chat_shape is not None,
            "bpe_cases": self.golden_counts.get("tokenizer_texts", 0),
        }

    def model_manifest(self, *, platform: str) -> dict:
        """The small JSON both SDKs ship next to the model: what it is and how to drive it."""
        return {
            "mobilekit_version": self.mobilekit_version,
            "project": self.project_name,
            "version": self.version,
            "task": self.task,
            "model_type": self.model_type,
            "model_sha256": self.model_sha256,
            "variant": self.tflite_variant if platform == "android" else self.coreml_variant,
            "decoder": self.spec.to_dict(),
            "stop_token_ids": self.stop_token_ids,
            "chat_template": self.chat_shape.to_dict() if self.chat_shape else None,
        }


def chat_stop_token_ids(tokenizer, shape: ChatTemplateShape | None, eos_ids: list[int]) -> list[int]:
    """eos ids plus the chat template's end-of-turn token, when the vocabulary has it as one token."""
    ids = set(eos_ids)
    if shape is not None:
        token = tokenizer.convert_tokens_to_ids(shape.end_of_turn)
        if isinstance(token, int) and token != tokenizer.unk_token_id:
            ids.add(token)
    return sorted(ids)


def build_llm_sdk_inputs(config, inputs: dict[str, Path], metadata: dict[str, dict], verify: dict, progress) -> LlmSdkInputs:
    from transformers import AutoTokenizer

    from mobilekit.sdk.build_inputs import config_names
    from mobilekit.fsutil import sha256_tree
    from mobilekit.llm.chat_template import recognise_tokenizer
    from mobilekit.sdk.bpe_data import asset_bytes, read_bpe_tokenizer
    from mobilekit.sdk.variants import shipped_models

    model_dir = inputs["model"]
    description = metadata["decoder"]
    spec = DecoderSpec.from_dict(description["spec"])
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    shape = recognise_tokenizer(tokenizer) if tokenizer.chat_template else None
    stop_ids = chat_stop_token_ids(tokenizer, shape, list(description.get("stop_token_ids") or []))
    if not stop_ids:
        raise ModelInputError("the model declares no end-of-text token (eos_token_id), so generation could never stop on its own",
                              hint="set eos_token_id in the model's generation_config.json or config.json")
    asset = asset_bytes(read_bpe_tokenizer(model_dir))

    shipped = shipped_models(config, inputs, verify)

    with progress.task("recording tokenizer, chat-template and generation-loop goldens"):
        goldens, counts = _goldens(model_dir, tokenizer, shape, spec, stop_ids, shipped.tflite_model, shipped.coreml_model)
    return LlmSdkInputs(
        **config_names(config),
        model_sha256=sha256_tree(model_dir), model_type=description.get("model_type", spec.model_type), spec=spec,
        stop_token_ids=stop_ids, chat_shape=shape, tokenizer_asset=asset, goldens=goldens, golden_counts=counts,
        tflite_model=shipped.tflite_model, tflite_variant=shipped.tflite_variant, coreml_model=shipped.coreml_model,
        coreml_variant=shipped.coreml_variant,
    )


def _goldens(model_dir: Path, tokenizer, shape, spec: DecoderSpec, stop_ids: list[int], tflite_model, coreml_model):
    from mobilekit.llm import loop_goldens
    from mobilekit.llm.chat_template import render
    from mobilekit.llm.generation import TokenText
    from mobilekit.llm.sdk_goldens import (EXP_INPUTS, RNG_SEEDS, model_chat_cases, standard_sample_cases,
                                           standard_stop_cases, write_goldens)
    from mobilekit.sdk.bpe_goldens import build_corpus, corpus_file_text, goldens_file_text

    corpus = build_corpus(GOLDEN_SEED)
    chats = model_chat_cases(tokenizer) if shape else []
    logits, samples = standard_sample_cases()
    files = {
        "bpe_corpus.txt": corpus_file_text(corpus),
        "bpe_goldens.txt": goldens_file_text(model_dir, corpus, name="model", seed=GOLDEN_SEED),
        "sampling_chat_goldens.txt": write_goldens(logits=logits, samples=samples, chats=chats, stops=standard_stop_cases(),
                                                   rng_seeds=RNG_SEEDS, exp_inputs=EXP_INPUTS),
    }
    # The loop is the same code on both platforms; the recording comes from the model Android ships,
    # else from the Core ML one (through mobilekit's MIL interpreter).
    if tflite_model is not None:
        from mobilekit.llm.tflite_runner import TfliteDecoder

        decoder = TfliteDecoder.open(tflite_model, spec)
    else:
        from mobilekit.llm.coreml_runner import CoremlDecoder

        decoder = CoremlDecoder.open(coreml_model, spec)
    encode = lambda text, special: tokenizer(text, add_special_tokens=special)["input_ids"]  # noqa: E731
    chat = (lambda messages: render(shape, messages)) if shape else (lambda messages: messages[-1]["content"])
    cases = loop_goldens.standard_cases(decoder, TokenText.from_model_folder(model_dir), encode, chat, stop_ids)
    files["loop_goldens.txt"] = loop_goldens.file_text(cases, spec)
    counts = {"tokenizer_texts": len(corpus), "chat_templates": len(chats),
              "loop_turns": sum(len(turns) for turns in cases.values())}
    return files, counts

"""The stages' work for causal LMs (``model.task = "text-generation"``).

Each stage class keeps its name and place in the pipeline and hands text-generation configs to
the functions here; the library code lives in ``mobilekit.llm``.
  export   the KV-cache decoder (``decoder.json``: cache layout, signatures, stop tokens), checked:
           prefill + decode through the explicit cache == the full Hugging Face forward
  convert  TFLite variants (litert-torch, prefill/decode signatures), Core ML variants
  verify   perplexity, greedy agreement and logits parity per variant (``mobilekit.llm.verify_llm``)
"""

from __future__ import annotations

import json
from typing import Any

from mobilekit import variants as _v
from mobilekit.config import Config
from mobilekit.errors import ConversionError, VerificationError
from mobilekit.scale.compute import precision_parameter
from mobilekit.stages.base import ArtifactRef, StageContext, StageOutput

KV_CHECK_TOLERANCE = 1e-3  # relative to the largest logit: explicit cache vs Hugging Face forward


def is_llm(config: Config) -> bool:
    return _v.kind_of(config.model.task) == _v.GENERATION


def decoder_ref() -> ArtifactRef:
    return ArtifactRef("export", "decoder")


def generation_parameters(config: Config) -> dict[str, Any]:
    from mobilekit.llm.kv_decoder import GRAPH_VERSION

    gen = config.generation
    # The graph version makes a changed decoder graph a new export, so every variant is rebuilt.
    return {"task": config.model.task, "context_length": gen.context_length, "prefill_lengths": list(gen.prefill_lengths),
            "graph_version": GRAPH_VERSION}


# -- finetune and distill ----------------------------------------------------------------------


def finetune_parameters(config: Config) -> dict[str, Any]:
    f, d = config.finetune, config.data
    return {"task": config.model.task, "epochs": f.epochs, "batch_size": f.batch_size, "learning_rate": f.learning_rate,
            "patience": f.patience, "max_train_samples": f.max_train_samples, "lora_rank": f.lora_rank,
            "lora_alpha": f.lora_alpha, "lora_dropout": f.lora_dropout,
            "lora_target_modules": list(f.lora_target_modules) if f.lora_target_modules else None,
            "max_length": config.model.sequence_length, "split": [d.validation_fraction, d.test_fraction, d.seed],
            **precision_parameter(config)}


def run_finetune(ctx: StageContext) -> StageOutput:
    from mobilekit.llm.lora import finetune_lora
    from mobilekit.scale.dispatch import Trainer
    from mobilekit.llm.model_folder import inspect_causal_lm

    config, f = ctx.config, ctx.config.finetune
    inspect_causal_lm(ctx.inputs["model"])
    result = finetune_lora(
        ctx.inputs["model"], ctx.out_dir / "model", ctx.inputs["data"], rank=f.lora_rank, alpha=f.lora_alpha,
        dropout=f.lora_dropout, target_modules=list(f.lora_target_modules) if f.lora_target_modules else None,
        epochs=f.epochs, batch_size=f.batch_size, learning_rate=f.learning_rate, patience=f.patience,
        max_train_samples=f.max_train_samples, max_length=config.model.sequence_length,
        validation_fraction=config.data.validation_fraction, test_fraction=config.data.test_fraction,
        seed=config.data.seed, log=ctx.log, progress=ctx.progress, trainer=Trainer(ctx))
    ctx.log.info("LoRA: validation perplexity %.4g -> %.4g (best epoch %d of %d)",
                 result.perplexity_before, result.perplexity_after, result.best_epoch, result.epochs_run)
    metrics = {k: v for k, v in result.to_dict().items() if k != "out_dir"}
    return StageOutput(artifacts={"model": result.out_dir},
                       metadata={"model": {"task": "text-generation", "lora": True}}, metrics=metrics)


def distill_parameters(config: Config) -> dict[str, Any]:
    d, data = config.distill, config.data
    return {"task": config.model.task, "layers": list(d.layers) if d.layers is not None else "half depth, middle block dropped",
            "intermediate_size": d.intermediate_size, "temperature": d.temperature, "epochs": d.epochs,
            "batch_size": d.batch_size, "learning_rate": d.learning_rate, "max_train_samples": d.max_train_samples,
            "max_length": config.model.sequence_length, "split": [data.validation_fraction, data.test_fraction, data.seed],
            **precision_parameter(config)}


def distill_texts(config: Config, inputs) -> tuple[list[str], list[str]]:
    """(train, validation) text: unlabelled lines (their held-out tail is never trained on) and the
    training/validation conversations of [data], rendered with the chat template."""
    from mobilekit.data import read_examples
    from mobilekit.llm.texts import unlabelled_split

    train, validation = [], []
    if "unlabelled" in inputs:
        lines = [e.text for e in read_examples(inputs["unlabelled"], fmt="text")]
        fit, held = unlabelled_split(lines)
        cut = max(1, len(fit) // 10)
        train, validation = fit[cut:], fit[:cut]  # the held-out tail is verify's, not distill's
    if "data" in inputs:
        from transformers import AutoTokenizer

        from mobilekit.llm.chat_data import render
        from mobilekit.llm.texts import conversation_splits

        tokenizer = AutoTokenizer.from_pretrained(str(inputs["teacher"]))
        parts = conversation_splits(config, inputs["data"])
        train += [render(tokenizer, m, generation_prompt=False) for m in parts[0]]
        validation += [render(tokenizer, m, generation_prompt=False) for m in parts[1]]
    limit = config.distill.max_train_samples
    return (train[:limit] if limit else train), validation


def run_distill(ctx: StageContext) -> StageOutput:
    from mobilekit.llm.distill_lm import distill_causal_lm
    from mobilekit.scale.dispatch import Trainer
    from mobilekit.llm.model_folder import inspect_causal_lm

    config, d = ctx.config, ctx.config.distill
    inspect_causal_lm(ctx.inputs["teacher"])
    train, validation = distill_texts(config, ctx.inputs)
    result = distill_causal_lm(
        ctx.inputs["teacher"], ctx.out_dir / "model", train, validation,
        layers=list(d.layers) if d.layers is not None else None, intermediate_size=d.intermediate_size,
        temperature=d.temperature, epochs=d.epochs, batch_size=d.batch_size, learning_rate=d.learning_rate,
        max_length=config.model.sequence_length, seed=config.data.seed, log=ctx.log, progress=ctx.progress,
        trainer=Trainer(ctx))
    evaluation = {k: v for k, v in result.to_dict().items() if k != "out_dir"}
    evaluation["task"] = "text-generation"
    out = ctx.out_dir / "evaluation.json"
    out.write_text(json.dumps(evaluation, indent=2, default=str) + "\n", encoding="utf-8")
    ctx.log.info("student: perplexity %.4g vs teacher %.4g (retention %.3f)", result.student_perplexity,
                 result.teacher_perplexity, result.retention)
    return StageOutput(artifacts={"model": result.out_dir, "evaluation": out},
                       metadata={"model": {"task": "text-generation", "layers": result.layers}}, metrics=evaluation)


# -- export ------------------------------------------------------------------------------------


def stop_token_ids(model_dir, tokenizer) -> list[int]:
    """eos ids from generation_config.json and the tokenizer: generation ends at any of them."""
    from transformers import GenerationConfig

    ids = set()
    try:
        eos = GenerationConfig.from_pretrained(str(model_dir)).eos_token_id
    except OSError:
        eos = None
    for value in (eos, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return sorted(ids)


def run_export(ctx: StageContext) -> StageOutput:
    from transformers import AutoTokenizer

    from mobilekit.llm.kv_decoder import build_kv_decoder, decoder_spec
    from mobilekit.llm.model_folder import inspect_causal_lm, load_checked
    from mobilekit.samples import builtin_texts

    config, model_dir = ctx.config, ctx.inputs["model"]
    folder = inspect_causal_lm(model_dir)
    with ctx.progress.task("loading the causal LM"):
        model = load_checked(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    spec = decoder_spec(model.config, config.generation.context_length, config.generation.prefill_lengths)
    with ctx.progress.task("checking KV-cache decode against the full forward"):
        diff, scale = _kv_check(model, build_kv_decoder(model, spec), spec, tokenizer, builtin_texts()[:4])
    limit = KV_CHECK_TOLERANCE * max(1.0, scale)
    ctx.log.info("KV-cache decoder vs full forward: max abs logit diff %.3g (limit %.3g)", diff, limit)
    if not diff <= limit:
        raise ConversionError(f"the KV-cache decoder disagrees with the model's own forward (max abs logit diff {diff:.3g} > {limit:.3g})",
                              hint=f"this {folder.model_type} checkpoint uses something mobilekit's cache does not model; please report it")
    description = {
        "task": config.model.task, "spec": spec.to_dict(), "model_type": folder.model_type,
        "stop_token_ids": stop_token_ids(model_dir, tokenizer), "bos_token_id": tokenizer.bos_token_id,
        "has_chat_template": folder.has_chat_template, "vocab_size": spec.vocab_size,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    out = ctx.out_dir / "decoder.json"
    out.write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
    return StageOutput(artifacts={"decoder": out}, metadata={"decoder": description},
                       metrics={"kv_vs_full_max_abs_diff": diff, "parameters": description["parameters"]})


def _kv_check(model, decoder, spec, tokenizer, texts) -> tuple[float, float]:
    """Max abs diff between the decoder (prefill then decode steps) and the full forward."""
    import numpy as np

    from mobilekit.llm.decoding import StepDecoder
    from mobilekit.llm.kv_decoder import empty_cache
    from mobilekit.llm.torch_runner import full_logits

    class TorchKv(StepDecoder):
        def reset_cache(self):
            self.cache = empty_cache(spec)

        def run(self, signature, tokens, positions):
            import torch

            with torch.no_grad():
                out = decoder(torch.tensor([tokens], dtype=torch.int32), torch.tensor(positions, dtype=torch.int32), **self.cache)
            self.cache = {name: out[name] for name in self.cache}
            return out["logits"][0].numpy()

    runner, worst, scale = TorchKv(spec), 0.0, 0.0
    limit = min(spec.context_length, max(spec.prefill_lengths) + 8)
    for text in texts:
        tokens = tokenizer(text, add_special_tokens=False).input_ids[:limit]
        if len(tokens) < 3:
            continue
        reference = full_logits(model, tokens)
        got = runner.teacher_forced_logits(tokens, prefill=max(1, len(tokens) - 3))
        worst, scale = max(worst, float(np.abs(got - reference).max())), max(scale, float(np.abs(reference).max()))
    return worst, scale


# -- convert -----------------------------------------------------------------------------------


def run_convert(ctx: StageContext, tflite_artifact, coreml_artifact) -> StageOutput:
    from mobilekit.llm.kv_decoder import DecoderSpec
    from mobilekit.llm.tflite_convert import convert_llm_tflite

    config = ctx.config
    description = ctx.input_metadata["decoder"]
    spec = DecoderSpec.from_dict(description["spec"])
    artifacts, metadata, metrics = {}, {}, {}
    if config.convert.tflite:
        with ctx.progress.task(f"litert-torch (KV cache): {', '.join(config.convert.tflite)}"):
            result = convert_llm_tflite(ctx.inputs["model"], ctx.out_dir / "tflite", spec=spec,
                                        variants=list(config.convert.tflite), int4_block_size=config.generation.int4_block_size)
        metrics["tflite_float32_vs_torch_max_abs_diff"] = result.guard_max_abs_diff
        for variant, path in result.paths.items():
            name = tflite_artifact(variant)
            artifacts[name] = path
            metadata[name] = {**description, "format": _v.TFLITE, "variant": variant}
            metrics[f"{name}_bytes"] = path.stat().st_size
    if config.convert.coreml:
        from mobilekit.llm.coreml_convert import convert_llm_coreml

        with ctx.progress.task(f"coremltools (KV cache): {', '.join(config.convert.coreml)}"):
            paths = convert_llm_coreml(ctx.inputs["model"], ctx.out_dir / "coreml", spec=spec, variants=list(config.convert.coreml),
                                       int4_block_size=config.generation.int4_block_size,
                                       metadata=_coreml_metadata(config, description, ctx.input_sha256.get("model")))
        for variant, path in paths.items():
            name = coreml_artifact(variant)
            artifacts[name] = path
            metadata[name] = {**description, "format": _v.COREML, "variant": variant}
    return StageOutput(artifacts=artifacts, metadata=metadata, metrics=metrics)


def _coreml_metadata(config: Config, description: dict, source_sha256: str | None) -> dict:
    from mobilekit import __version__

    return {"short_description": f"{config.project.name}: text-generation (mobilekit)", "version": config.project.version,
            "task": "text-generation", "stop_token_ids": description["stop_token_ids"],
            "source_sha256": source_sha256, "mobilekit_version": __version__}


# -- verify ------------------------------------------------------------------------------------


def verify_parameters(config: Config) -> dict[str, Any]:
    v, d = config.verify, config.data
    return {"samples": v.samples, "perplexity_budget": v.perplexity_budget, "min_greedy_agreement": v.min_greedy_agreement,
            "greedy_prompts": v.greedy_prompts, "greedy_tokens": v.greedy_tokens, "window": config.model.sequence_length,
            "text": [d.validation_fraction, d.test_fraction, d.seed]}


def run_verify(ctx: StageContext, tflite_artifact, coreml_artifact) -> StageOutput:
    from transformers import AutoTokenizer

    from mobilekit.llm.kv_decoder import DecoderSpec
    from mobilekit.llm.model_folder import load_checked
    from mobilekit.llm.texts import eval_texts
    from mobilekit.llm.verify_llm import Budget, reference, verify_variant

    config, v = ctx.config, ctx.config.verify
    description = ctx.input_metadata["decoder"]
    spec = DecoderSpec.from_dict(description["spec"])
    stop_ids = set(description["stop_token_ids"])
    tokenizer = AutoTokenizer.from_pretrained(str(ctx.inputs["model"]))
    window = min(config.model.sequence_length, spec.context_length - 1)
    texts = eval_texts(config, ctx.inputs, tokenizer, window=window, limit=v.samples, prompts=v.greedy_prompts)
    prompts = [p[-(spec.context_length - v.greedy_tokens):] for p in texts.prompts]
    model = load_checked(ctx.inputs["model"])
    with ctx.progress.task(f"torch reference on {len(texts.texts)} texts, {len(prompts)} greedy prompts"):
        ref = reference(model, texts.texts, prompts, v.greedy_tokens, stop_ids)
    budget = Budget(v.perplexity_budget, v.min_greedy_agreement)
    variants = _variant_decoders(config, ctx, spec, tflite_artifact, coreml_artifact)
    results = {}
    with ctx.progress.task("verifying variants", total=len(variants)) as progress:
        for name, (family, open_decoder) in variants.items():
            progress.describe(f"verifying {name}")
            report = verify_variant(name, open_decoder(), family, ref, texts.texts, prompts, v.greedy_tokens, stop_ids, budget)
            results[name] = report.to_dict()
            ctx.log.info("%s: %s", name, "ships" if report.ships else f"rejected: {'; '.join(results[name]['reasons'])}")
            progress.advance()
    return _verify_output(ctx, results, texts.source, len(texts.texts), ref.perplexity, budget)


def _variant_decoders(config, ctx, spec, tflite_artifact, coreml_artifact) -> dict:
    from mobilekit.llm.tflite_runner import TfliteDecoder

    variants = {}
    for variant in config.convert.tflite:
        path = ctx.inputs[tflite_artifact(variant)]
        variants[tflite_artifact(variant)] = (_v.get(_v.TFLITE, variant).llm_verify_family, lambda p=path: TfliteDecoder.open(p, spec))
    for variant in config.convert.coreml:
        from mobilekit.llm.coreml_runner import CoremlDecoder

        path = ctx.inputs[coreml_artifact(variant)]
        variants[coreml_artifact(variant)] = (_v.get(_v.COREML, variant).llm_verify_family, lambda p=path: CoremlDecoder.open(p, spec))
    return variants


def _verify_output(ctx, results: dict, source: str, count: int, reference_perplexity: float, budget) -> StageOutput:
    rejected = {name: r["reasons"] for name, r in results.items() if not r["ships"]}
    summary = {"task": "text-generation", "samples": count, "sample_source": source,
               "reference_perplexity": reference_perplexity,
               "perplexity_budget": budget.perplexity_percent, "min_greedy_agreement": budget.min_greedy_agreement,
               "variants": results, "shipping": [n for n, r in results.items() if r["ships"]], "rejected": rejected}
    out = ctx.out_dir / "results.json"
    out.write_text(json.dumps(summary, indent=2, default=float) + "\n", encoding="utf-8")
    if rejected and ctx.strict:
        lines = "; ".join(f"{name}: {', '.join(reasons)}" for name, reasons in rejected.items())
        raise VerificationError(f"{len(rejected)} variant(s) rejected: {lines}",
                                hint="see the verify lines above; loosen verify.perplexity_budget or verify.min_greedy_agreement, "
                                     "drop the variant from convert.tflite / convert.coreml, or build without --strict")
    return StageOutput(artifacts={"results": out},
                       metrics={"shipping": summary["shipping"], "rejected": rejected, "samples": count,
                                "reference_perplexity": reference_perplexity})

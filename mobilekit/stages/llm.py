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

from mobilekit.config import Config
from mobilekit.errors import ConversionError, VerificationError
from mobilekit.stages.base import ArtifactRef, StageContext, StageOutput

KV_CHECK_TOLERANCE = 1e-3  # relative to the largest logit: explicit cache vs Hugging Face forward


def is_llm(config: Config) -> bool:
    return config.model.task == "text-generation"


def decoder_ref() -> ArtifactRef:
    return ArtifactRef("export", "decoder")


def generation_parameters(config: Config) -> dict[str, Any]:
    gen = config.generation
    return {"task": config.model.task, "context_length": gen.context_length, "prefill_lengths": list(gen.prefill_lengths)}


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
            metadata[name] = {**description, "format": "tflite", "variant": variant}
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
            metadata[name] = {**description, "format": "coreml", "variant": variant}
    return StageOutput(artifacts=artifacts, metadata=metadata, metrics=metrics)


def _coreml_metadata(config: Config, description: dict, source_sha256: str | None) -> dict:
    from mobilekit import __version__

    return {"short_description": f"{config.project.name}: text-generation (mobilekit)", "version": config.project.version,
            "task": "text-generation", "spec": description["spec"], "stop_token_ids": description["stop_token_ids"],
            "source_sha256": source_sha256, "mobilekit_version": __version__}


# -- verify ------------------------------------------------------------------------------------


VERIFY_FAMILIES = {"float32": "float32", "float16": "float16", "dynamic-int8": "int8", "int8": "int8",
                   "int4": "int4", "palettize4": "int4"}


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
        variants[tflite_artifact(variant)] = (VERIFY_FAMILIES[variant], lambda p=path: TfliteDecoder.open(p, spec))
    for variant in config.convert.coreml:
        from mobilekit.llm.coreml_runner import CoremlDecoder

        path = ctx.inputs[coreml_artifact(variant)]
        variants[coreml_artifact(variant)] = (VERIFY_FAMILIES[variant], lambda p=path: CoremlDecoder.open(p, spec))
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

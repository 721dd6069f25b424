"""Causal-LM benchmarks: host CPU generation speed against PyTorch, ARM64 instructions under qemu.

Host CPU (``run_llm_host``), the encoder protocol of ``mobilekit.bench.host`` applied to generation:

* One thread everywhere; every model (PyTorch fp32 through Hugging Face with its own KV cache, and
  each TFLite variant through ``TfliteDecoder``, the loop verify checks) is loaded in ONE child
  process and timed round-robin in a freshly shuffled order, after ``warmup`` rounds. One timed
  call is one generation: a ``prompt_tokens``-token prompt of real text, then ``decode_tokens``
  greedy steps (stop tokens ignored, every run decodes the same count).
* Time to first token (TTFT) = prefill + picking the first token. Decode = the ``decode_tokens``
  steps after it; tokens/s = decode_tokens / decode seconds, so the p50 figure is
  decode_tokens / p50 decode time (and the slow-tail figure comes from the p90 decode time).
  The TFLite time includes copying the KV cache in and out of the signature on every step (what
  the SDK loop does too); PyTorch's cache grows in place.
* The ratio to PyTorch uses the p50s of the same rounds: the figure that carries over between
  machines, not the absolute times of a shared box.
* Load time and peak memory come from a fresh child per model: after the runtime is imported the
  resident-set high-water mark is reset (``/proc/self/clear_refs`` = 5), the model is loaded and
  one generation run; growth = VmHWM - VmRSS before loading (the touched pages of a memory-mapped
  .tflite count). Where the reset is refused, ru_maxrss (an upper bound) is used and named so.

Which LiteRT: the host times run with the interpreter of the Python that runs them, by default
this one (LiteRT 2.1, the runtime verify checked the variants with). On this x86 host LiteRT 2.3
(the litert-torch environment) invokes the same decoder graphs 3-10x slower than 2.1, with or
without XNNPACK (SmolLM2-135M dynamic-int8 decode invoke: 34 vs 194 ms): a property of the x86
build that phones never see, and timing with it would measure that rather than the model. What
phones run (current LiteRT on aarch64, its int4 block-wise kernels included) is what the ARM64
tier counts, with LiteRT 2.3; ``python=`` times with another runtime, which the bench stage uses
for a short cross-check recorded next to the figures.

ARM64 (``emulate_llm_variant``): ``mobilekit/bench/llm_guest.py`` under qemu counts the
instructions of one ``prefill_<N>`` call (N the largest prefill length, N real tokens) and of each
of k ``decode`` calls, teacher forced with the host's greedy tokens so the ARM logits are compared
step by step with the host's. One thread; the whole guest runs twice and the counts must repeat.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from mobilekit import variants as _v
from mobilekit.errors import ConfigError

CHILD_TIMEOUT_S = 7200
# ARM vs host logits, relative to the largest host logit. Float variants must agree closely. The
# quantized ones quantize activations on the fly, and each build picks its own kernels: on
# SmolLM2-135M dynamic-int8 ARM (LiteRT 2.3) vs x86 (2.1) differ by 2.1 (8% of the largest logit),
# x86 2.1 vs x86 2.3 by 1.6, with the same top-1 token at every step. A broken kernel is ~100% off.
ARM_FAMILY_TOLERANCE = {_v.FAMILY_FLOAT32: 1e-3, _v.FAMILY_FLOAT16: 1e-2, _v.FAMILY_INT8_WEIGHTS: 0.15,
                        _v.FAMILY_INT4_WEIGHTS: 0.15}
# Per text-generation TFLite variant, by its registry family (others: 0.15).
ARM_TOLERANCE = {v.name: ARM_FAMILY_TOLERANCE[v.family] for v in _v.variants(_v.TFLITE, _v.GENERATION)
                 if v.family in ARM_FAMILY_TOLERANCE}


@dataclass(frozen=True)
class BenchModel:
    key: str  # torch | tflite-<variant>
    label: str
    kind: str  # torch | tflite
    path: str
    variant: str | None = None


@dataclass(frozen=True)
class Workload:
    prompts: list[list[int]]  # each exactly prompt_tokens long, real text
    decode_tokens: int
    spec: dict  # DecoderSpec.to_dict()


# -- prompts -----------------------------------------------------------------------------------


def fixed_length_prompts(texts: list[list[int]], length: int, count: int) -> list[list[int]]:
    """``count`` prompts of exactly ``length`` tokens cut from the texts laid end to end, each
    starting where one text starts (short corpora are repeated: the tokens stay real text)."""
    stream, starts = [], []
    for ids in texts:
        starts.append(len(stream))
        stream.extend(ids)
    if not stream:
        raise ConfigError("no text to build benchmark prompts from", hint="give [data] or verify.texts_path some lines")
    while len(stream) < length + max(starts):
        stream = stream + stream
    prompts = [stream[s:s + length] for s in starts if s + length <= len(stream)]
    return (prompts * count)[:count] if prompts else [stream[:length]]


def check_fits(spec: dict, prompt_tokens: int, decode_tokens: int) -> None:
    if prompt_tokens + decode_tokens > spec["context_length"]:
        raise ConfigError(
            f"bench.prompt_tokens + bench.decode_tokens = {prompt_tokens + decode_tokens} do not fit the KV cache "
            f"of {spec['context_length']} tokens", hint="lower them or raise generation.context_length")


# -- one model, in a child process ---------------------------------------------------------------


def open_generator(model: BenchModel, spec: dict):
    """A function prompt, decode_tokens -> (ttft seconds, decode seconds, tokens); heavy imports here."""
    if model.kind == "torch":
        return _torch_generator(model.path)
    if model.kind == "tflite":
        return _tflite_generator(model.path, spec)
    raise ValueError(f"unknown model kind {model.kind!r}")


def _torch_generator(path: str):
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(1)
    # The folder as a user runs it: the default attention and Hugging Face's own growing cache.
    lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    clock = time.perf_counter

    def generate(prompt: list[int], steps: int):
        ids = torch.tensor([prompt], dtype=torch.long)
        with torch.inference_mode():
            t0 = clock()
            out = lm(input_ids=ids, use_cache=True)
            token = int(out.logits[0, -1].argmax())
            t1 = clock()
            tokens = [token]
            for _ in range(steps):
                out = lm(input_ids=torch.tensor([[token]]), past_key_values=out.past_key_values, use_cache=True)
                token = int(out.logits[0, -1].argmax())
                tokens.append(token)
            t2 = clock()
        return t1 - t0, t2 - t1, tokens

    return generate


def _tflite_generator(path: str, spec: dict):
    from mobilekit.llm.kv_decoder import DecoderSpec
    from mobilekit.llm.tflite_runner import TfliteDecoder

    decoder = TfliteDecoder.open(Path(path), DecoderSpec.from_dict(spec), threads=1)
    clock = time.perf_counter

    def generate(prompt: list[int], steps: int):
        decoder.reset()  # a new conversation's empty cache: paid once, not per token
        t0 = clock()
        token = int(decoder.prefill(prompt)[-1].argmax())
        t1 = clock()
        tokens = [token]
        for _ in range(steps):
            token = int(decoder.decode(token).argmax())
            tokens.append(token)
        t2 = clock()
        return t1 - t0, t2 - t1, tokens

    return generate


def _import_runtime(model: BenchModel) -> None:
    """Everything importable before the memory window opens, so it measures the model alone."""
    if model.kind == "torch":
        import torch  # noqa: F401
        from transformers import AutoConfig, AutoModelForCausalLM

        # The architecture's modeling module is imported lazily, on first use of its class.
        AutoModelForCausalLM._model_mapping[type(AutoConfig.from_pretrained(model.path))]  # noqa: SLF001
    else:
        import ai_edge_litert.interpreter  # noqa: F401
    import numpy  # noqa: F401


def probe_main(request: dict) -> dict:
    """Fresh process: load time, first generation and peak memory growth of one model."""
    import gc
    import resource

    from mobilekit.bench.host import _reset_peak_rss, _status_kb

    model, work = BenchModel(**request["model"]), Workload(**request["workload"])
    _import_runtime(model)
    gc.collect()
    rss_before = _status_kb("VmRSS")
    exact = _reset_peak_rss()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    generate = open_generator(model, work.spec)
    load_s = time.perf_counter() - t0
    ttft_s, decode_s, _tokens = generate(work.prompts[0], work.decode_tokens)
    if exact:
        peak_kb = _status_kb("VmHWM")
        growth_kb = peak_kb - rss_before if peak_kb is not None and rss_before is not None else None
    else:
        growth_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - min(maxrss_before, rss_before or maxrss_before)
    return {"load_ms": 1000 * load_s, "first_ttft_ms": 1000 * ttft_s, "first_decode_ms": 1000 * decode_s,
            "peak_memory_growth_bytes": None if growth_kb is None else max(0, growth_kb) * 1024,
            "memory_method": "VmHWM after clear_refs (load + one generation)" if exact else "ru_maxrss (upper bound)"}


def timing_main(request: dict) -> dict:
    """Every model in this process, one generation each per round, in a shuffled order."""
    work = Workload(**request["workload"])
    models = [BenchModel(**m) for m in request["models"]]
    generators = {m.key: open_generator(m, work.spec) for m in models}
    rng = random.Random(request.get("seed", 0))
    keys = [m.key for m in models]
    for r in range(request["warmup"]):
        rng.shuffle(keys)
        for key in keys:
            generators[key](work.prompts[r % len(work.prompts)], work.decode_tokens)
    ttft = {k: [] for k in keys}
    decode = {k: [] for k in keys}
    tokens = {}
    loads = [os.getloadavg()[0]]
    for r in range(request["runs"]):
        rng.shuffle(keys)
        for key in keys:
            t, d, generated = generators[key](work.prompts[r % len(work.prompts)], work.decode_tokens)
            ttft[key].append(1000 * t)
            decode[key].append(1000 * d)
            if r == 0:
                tokens[key] = generated
    loads.append(os.getloadavg()[0])
    return {"ttft_ms": ttft, "decode_ms": decode, "first_run_tokens": tokens, "load_average": loads,
            "runtimes": runtime_versions()}


def runtime_versions() -> dict:
    from importlib import metadata

    versions = {"python": sys.executable}
    for dist in ("torch", "transformers", "ai-edge-litert", "numpy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def _child(python: str, mode: str, request: dict, workdir: Path) -> dict:
    from mobilekit.bench.child import run_json_child

    return run_json_child(python, "mobilekit.llm.bench_llm", mode, request, workdir, timeout=CHILD_TIMEOUT_S,
                          what="the text-generation benchmark child")


# -- the parent side: host -----------------------------------------------------------------------


def run_llm_host(models: list[BenchModel], work: Workload, workdir: Path, *, runs: int, warmup: int, seed: int = 0,
                 python: str | None = None, probes: bool = True, progress=None) -> dict:
    """Per model key: TTFT, decode tokens/s, load and memory; ratios to the "torch" entry."""
    python = python or sys.executable
    workdir.mkdir(parents=True, exist_ok=True)
    measured = {}
    for model in models if probes else []:
        if progress:
            progress.describe(f"host CPU: load + memory probe, {model.label}")
        measured[model.key] = _child(python, "probe", {"model": asdict(model), "workload": asdict(work)}, workdir)
        if progress:
            progress.advance()
    if progress:
        progress.describe(f"host CPU: {len(models)} models x {runs} interleaved generations")
    timing = _child(python, "time", {"models": [asdict(m) for m in models], "workload": asdict(work), "runs": runs,
                                     "warmup": warmup, "seed": seed}, workdir)
    if progress:
        progress.advance()
    results = {m.key: {**summarize(m, timing, work), **measured.get(m.key, {})} for m in models}
    add_ratios(results)
    protocol = {"runs": runs, "warmup": warmup, "seed": seed, "threads": 1, "order": "round-robin, shuffled every round",
                "prompt_tokens": len(work.prompts[0]), "decode_tokens": work.decode_tokens, "prompts": len(work.prompts),
                "load_average": timing["load_average"]}
    return {"models": results, "protocol": protocol, "runtimes": timing["runtimes"]}


def summarize(model: BenchModel, timing: dict, work: Workload) -> dict:
    from mobilekit.bench.host import percentile

    ttft, decode = timing["ttft_ms"][model.key], timing["decode_ms"][model.key]
    p50, p90 = percentile(decode, 50), percentile(decode, 90)
    n = work.decode_tokens
    return {
        "label": model.label, "kind": model.kind, "variant": model.variant, "file_bytes": file_bytes(Path(model.path)),
        "runs": len(ttft), "ttft_ms_p50": percentile(ttft, 50), "ttft_ms_p90": percentile(ttft, 90),
        "decode_ms_p50": p50, "decode_ms_p90": p90, "decode_ms_per_token_p50": p50 / n,
        "decode_tokens_per_s_p50": 1000 * n / p50, "decode_tokens_per_s_p90": 1000 * n / p90,
        "decode_tokens_per_s_mean": statistics.fmean(1000 * n / d for d in decode),
        "first_run_tokens": timing["first_run_tokens"].get(model.key),
    }


def add_ratios(results: dict) -> None:
    """Each entry's figures over PyTorch's (decode tokens/s > 1 means faster than PyTorch)."""
    reference = results.get("torch") or {}
    for entry in results.values():
        ratios = {}
        for name in ("decode_tokens_per_s_p50", "ttft_ms_p50", "peak_memory_growth_bytes", "file_bytes", "load_ms"):
            a, b = entry.get(name), reference.get(name)
            ratios[name] = a / b if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b > 0 else None
        entry["ratio_to_pytorch"] = ratios
        entry["same_tokens_as_pytorch"] = (entry["first_run_tokens"] == reference.get("first_run_tokens")
                                           if reference.get("first_run_tokens") and entry.get("first_run_tokens") else None)


def file_bytes(path: Path) -> int:
    if path.is_dir():  # the original model: its weights
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and p.suffix in (".safetensors", ".bin"))
    return path.stat().st_size


# -- the parent side: ARM64 emulator -------------------------------------------------------------


def emulator_workload(spec: dict, texts: list[list[int]], decode_steps: int) -> dict:
    """The guest's inputs: N real tokens for the largest prefill signature, where decoding starts."""
    length = max(spec["prefill_lengths"])
    prompt = fixed_length_prompts(texts, length, 1)[0]
    start = min(length, spec["context_length"] - decode_steps)
    if start < 0:
        raise ConfigError(f"{decode_steps} emulated decode steps do not fit the KV cache of {spec['context_length']}",
                          hint="lower bench.emulator_runs")
    return {"prompt": prompt, "decode_start": start, "steps": decode_steps}


def host_reference(path: Path, spec: dict, workload: dict):
    """The host's logits for the guest's calls, and the greedy tokens the guest is fed."""
    import numpy as np

    from mobilekit.llm.kv_decoder import DecoderSpec
    from mobilekit.llm.tflite_runner import TfliteDecoder

    decoder = TfliteDecoder.open(path, DecoderSpec.from_dict(spec), threads=1)
    prompt, start = workload["prompt"], workload["decode_start"]
    rows = [decoder.run(f"prefill_{len(prompt)}", prompt, list(range(len(prompt))))[-1]]
    forced = []
    for i in range(workload["steps"]):
        forced.append(int(rows[-1].argmax()))
        rows.append(decoder.run("decode", [forced[-1]], [start + i])[0])
    return np.stack(rows).astype(np.float32), forced


def emulate_llm_variant(emulator, variant: str, path: Path, spec: dict, workload: dict, *, repeats: int = 2) -> dict:
    """Instructions per prefill call and per decoded token, counted ``repeats`` times."""
    host_rows, forced = host_reference(path, spec, workload)
    request = {"model": str(Path(path).resolve()), "spec": spec, "prompt": workload["prompt"],
               "decode_tokens": forced, "decode_start": workload["decode_start"]}
    runs = [emulator.run_script("llm_guest.py", path, request, windows=1 + len(forced)) for _ in range(repeats)]
    first = runs[0]
    per_token = first.windows[1:]
    figures = {
        "prefill_length": len(workload["prompt"]), "decode_steps": len(forced),
        "instructions_per_prefill": first.windows[0],
        "instructions_per_token": statistics.median(per_token),
        "instructions_per_token_runs": per_token,
        # What the regression check compares (bench.baseline), for LLMs per decoded token.
        "instructions_per_inference": statistics.median(per_token), "unit": "decoded token",
        "deterministic": all(r.windows == first.windows for r in runs[1:]),
        "repeat_counts": [r.windows for r in runs], "repeats": repeats, "marker_cost": first.marker_cost,
        "diagnostic_emulated_wall_ms_per_token": 1000 * statistics.median(first.wall_s[1:]),
        "diagnostic_emulated_wall_ms_prefill": 1000 * first.wall_s[0],
        "guest_seconds": [round(r.seconds, 1) for r in runs],
    }
    figures.update(compare_logits(first.outputs, host_rows, variant))
    figures.update(breakdown(emulator, first, 1 + len(forced)))
    return figures


def compare_logits(arm, host, variant: str) -> dict:
    import numpy as np

    diff = float(np.max(np.abs(arm.astype(np.float32) - host)))
    tolerance = ARM_TOLERANCE.get(variant, 0.15) * max(1.0, float(np.max(np.abs(host))))
    top1 = float(np.mean(arm.argmax(axis=1) == host.argmax(axis=1)))
    return {"arm_vs_host_max_abs_diff": diff, "arm_vs_host_tolerance": tolerance, "arm_vs_host_top1_agreement": top1,
            "outputs_match": bool(diff <= tolerance)}


def breakdown(emulator, run, windows: int) -> dict:
    """Where the counted instructions (prefill and decode windows together) go, by operation."""
    from mobilekit.bench.emulator import TOP_FUNCTIONS
    from mobilekit.bench.symbols import HARNESS, attribute

    groups = attribute(run.blocks, run.maps, emulator.sysroot)
    total = sum(sum(f.values()) for g, f in groups.items() if g != HARNESS) or 1
    rows = []
    for group, functions in sorted(groups.items(), key=lambda kv: -sum(kv[1].values())):
        if group == HARNESS:
            continue
        top = sorted(functions.items(), key=lambda kv: -kv[1])[:TOP_FUNCTIONS]
        rows.append({"group": group, "instructions_per_window": sum(functions.values()) / windows,
                     "share": sum(functions.values()) / total, "top_functions": [n for n, _ in top]})
    return {"breakdown": rows, "breakdown_scope": "prefill + decode windows", "breakdown_incomplete": run.incomplete}


def _main(argv: list[str]) -> None:
    mode, request_path = argv[0], Path(argv[1])
    request = json.loads(request_path.read_text())
    result = probe_main(request) if mode == "probe" else timing_main(request)
    request_path.with_suffix(".out.json").write_text(json.dumps(result))


if __name__ == "__main__":
    _main(sys.argv[1:])

"""Benchmarks of a length-bucketed TFLite variant: each bucket alone, and the task's real length mix.

Keys beside the fixed-length ``tflite-<variant>`` (the largest bucket, ``serving_default``):

* ``tflite-<variant>/seq-<length>``: one smaller bucket's signature, every bench text cut to its
  length (the timing and the instruction count do not depend on which tokens are in the row).
* ``tflite-<variant>/mix``: every bench text in the smallest bucket that holds it, as the SDKs
  run it. On the host it is timed directly (the rounds cycle through the texts). Under qemu it is
  the per-bucket counts weighted by the share of the bench texts each bucket gets (the counts are
  exact and do not depend on the row's content, so this equals counting every text in its bucket,
  without one more pair of emulator runs per bucket).
"""

from __future__ import annotations

from pathlib import Path

from mobilekit.bench.host import ModelSpec
from mobilekit.buckets import bucket_for

MIX = "mix"


def bucket_key(name: str, length: int) -> str:
    return f"{name}/seq-{length}"


def mix_key(name: str) -> str:
    return f"{name}/{MIX}"


def smaller_buckets(signatures: dict[str, str]) -> dict[int, str]:
    """{length: signature} of every bucket but the largest (which is the variant's own figure)."""
    lengths = sorted(int(n) for n in signatures)
    return {n: signatures[str(n)] for n in lengths[:-1]}


def host_specs(name: str, variant: str, path: Path, signatures: dict[str, str]) -> list[ModelSpec]:
    """The per-bucket and mix specs of one variant (none when it has one bucket)."""
    if len(signatures) < 2:
        return []
    specs = [ModelSpec(bucket_key(name, n), f"TFLite {variant}, {n} tokens", "tflite", str(path), variant=variant,
                       signature=sig, length=n) for n, sig in smaller_buckets(signatures).items()]
    specs.append(ModelSpec(mix_key(name), f"TFLite {variant}, length buckets (task mix)", "tflite", str(path),
                           variant=variant, buckets=dict(signatures)))
    return specs


def shares(arrays: dict, lengths) -> dict[int, float]:
    """{length: share of the bench texts that run in that bucket}."""
    counts = [int(n) for n in arrays["attention_mask"].sum(axis=1)]
    chosen = [bucket_for(n, lengths) for n in counts]
    return {b: chosen.count(b) / max(1, len(chosen)) for b in sorted(lengths)}


def emulate_buckets(emulator, name: str, variant: str, path: Path, arrays: dict, inputs_npz: Path,
                    signatures: dict[str, str], full: dict, runs: int) -> dict:
    """{key: figures} for every smaller bucket and the mix; ``full`` is the variant's own figures."""
    import numpy as np

    from mobilekit.bench.emulator import emulate_variant
    from mobilekit.bench.litert_guest import LiteRTModel, rows

    n = len(arrays["input_ids"])
    out, counts = {}, {max(int(k) for k in signatures): full}
    for length, signature in smaller_buckets(signatures).items():
        host = LiteRTModel(str(path), num_threads=1, signature=signature)
        host_outputs = np.stack([host(host.prepare(rows(arrays, i % n)))[0] for i in range(runs)])
        figures = emulate_variant(emulator, variant, path, inputs_npz, host_outputs, warmup=1, runs=runs,
                                  signature=signature)
        out[bucket_key(name, length)] = {**figures, "bucket": length, "signature": signature}
        counts[length] = figures
    out[mix_key(name)] = mix_figures(counts, shares(arrays, list(counts)))
    return out


def mix_figures(counts: dict[int, dict], share: dict[int, float]) -> dict:
    """The mix's instructions per inference: per-bucket counts weighted by the texts' shares."""
    total = sum(share[b] * counts[b]["instructions_per_inference"] for b in counts)
    return {
        "bucket": MIX,
        "instructions_per_inference": total,
        "method": "per-bucket counts weighted by the share of the bench texts each bucket runs",
        "shares": {str(b): round(s, 4) for b, s in share.items()},
        "deterministic": all(c["deterministic"] for c in counts.values()),
        "outputs_match": all(c["outputs_match"] for c in counts.values()),
        "arm_vs_host_max_abs_diff": max(c["arm_vs_host_max_abs_diff"] for c in counts.values()),
        "arm_vs_host_tolerance": min(c["arm_vs_host_tolerance"] for c in counts.values()),
        "breakdown": [],  # see each bucket's own entry
        "diagnostic_emulated_wall_ms_per_inference": None,
    }

"""Host CPU tier: every TFLite variant, the original torch model and the ONNX model, timed together.

Protocol (the host is a shared, noisy machine; the figures are "host CPU", never "phone"):

* One thread everywhere (torch, onnxruntime, LiteRT). On a shared 2-core box two threads are
  slower than one, and a phone app usually runs one model on one core.
* Every model is loaded in ONE child process and timed round-robin: after ``warmup`` rounds,
  each of ``runs`` rounds runs every model once, in a freshly shuffled order, on the same real
  tokenized text. Load spikes then hit all models alike, and the ratio to the original torch
  model measured in the same rounds is the figure that carries over between machines.
* Model load time, first-inference time and peak memory growth are measured per model in a fresh
  child process each (what an app pays at start): the resident-set high-water mark is reset
  (``/proc/self/clear_refs`` = 5) after the runtime is imported, then the model is loaded and run
  a few times; the growth is the new high-water mark minus the resident set before loading. Where
  the reset is not allowed, the process's ``ru_maxrss`` is used instead (an upper bound that may
  include the import's peak). In-process RSS deltas would be wrong here: several models share the
  process and freed memory is not returned to the OS.
* The XNNPACK-off runs of each TFLite variant are a diagnostic (which ops XNNPACK speeds up):
  timed in the same rounds, no load/memory probe.

The timed call is exactly one inference of one text: copy the inputs in, run, read the output.
"""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable


CHILD_TIMEOUT_S = 7200
PROBE_RUNS = 3  # inferences after the first, inside the memory window


@dataclass(frozen=True)
class ModelSpec:
    key: str  # torch | onnx | tflite-<variant> | tflite-<variant>/xnnpack-off
    label: str
    kind: str  # torch | onnx | tflite
    path: str
    variant: str | None = None
    xnnpack: bool = True
    diagnostic: bool = False
    # torch only: how to rebuild the exported computation
    task: str | None = None
    pooling: str = "mean"
    normalize: bool = True
    # tflite with length buckets: one bucket's signature (texts cut to its length), or the mix
    # ({str(length): signature}: each text in the smallest bucket that holds it, as the SDKs run)
    signature: str | None = None
    length: int | None = None
    buckets: dict | None = None


@dataclass
class Opened:
    prepare: Callable[[dict], Any]  # one text's {input name: [1, seq] int32} -> what call takes
    call: Callable[[Any], Any]  # -> numpy output [1, ...]


def open_model(spec: ModelSpec) -> Opened:
    """Load one model for timing; heavy imports happen here, in the child process."""
    import numpy as np

    if spec.kind == "torch":
        import torch

        from mobilekit.convert.onnx_export import _load_wrapper

        torch.set_num_threads(1)
        wrapper, info = _load_wrapper(Path(spec.path), task=spec.task, pooling=spec.pooling, normalize=spec.normalize)
        names = info.input_names

        def call(feed):
            with torch.inference_mode():
                return wrapper(*feed).numpy()

        return Opened(lambda row: tuple(torch.from_numpy(np.ascontiguousarray(row[n], dtype=np.int32)) for n in names), call)
    if spec.kind == "onnx":
        from mobilekit.runners.onnx_runner import OnnxRunner

        runner = OnnxRunner(Path(spec.path), num_threads=1)
        session, names, output = runner.session, runner.input_names, runner.output_name
        return Opened(lambda row: {n: np.ascontiguousarray(row[n], dtype=np.int32) for n in names},
                      lambda feed: session.run([output], feed)[0])
    if spec.kind == "tflite":
        from mobilekit.bench.litert_guest import open_litert

        model = open_litert(spec.path, signature=spec.signature, buckets=spec.buckets, xnnpack=spec.xnnpack)
        return Opened(model.prepare, model)
    raise ValueError(f"unknown model kind {spec.kind!r}")


# -- child processes -------------------------------------------------------------------------


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _import_runtime(kind: str) -> None:
    if kind == "torch":
        import torch  # noqa: F401
        import transformers  # noqa: F401
    elif kind == "onnx":
        import onnxruntime  # noqa: F401
    else:
        import ai_edge_litert.interpreter  # noqa: F401
    import numpy  # noqa: F401


def probe_main(request: dict) -> dict:
    """Fresh process: load time, first inference, peak memory growth of one model."""
    import numpy as np

    from mobilekit.bench.litert_guest import rows

    spec = ModelSpec(**request["spec"])
    arrays = dict(np.load(request["inputs"]))
    _import_runtime(spec.kind)
    import gc

    gc.collect()
    rss_before = _status_kb("VmRSS")
    exact = _reset_peak_rss()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    opened = open_model(spec)
    t1 = time.perf_counter()
    feed = opened.prepare(rows(arrays, 0))
    t2 = time.perf_counter()
    opened.call(feed)
    t3 = time.perf_counter()
    for i in range(PROBE_RUNS):
        opened.call(opened.prepare(rows(arrays, (i + 1) % len(arrays["input_ids"]))))
    if exact:
        peak_kb = _status_kb("VmHWM")
        growth_kb = peak_kb - rss_before if peak_kb is not None and rss_before is not None else None
    else:
        growth_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - min(maxrss_before, rss_before or maxrss_before)
    return {"load_ms": 1000 * (t1 - t0), "first_inference_ms": 1000 * (t3 - t2),
            "peak_memory_growth_bytes": None if growth_kb is None else max(0, growth_kb) * 1024,
            "memory_method": "VmHWM after clear_refs" if exact else "ru_maxrss (upper bound)"}


def timing_main(request: dict) -> dict:
    """All models in this process, round-robin in shuffled order; per-model latencies in ms."""
    import numpy as np

    from mobilekit.bench.litert_guest import rows

    specs = [ModelSpec(**s) for s in request["specs"]]
    arrays = dict(np.load(request["inputs"]))
    n = len(arrays["input_ids"])
    opened = {s.key: open_model(s) for s in specs}
    feeds = {key: [o.prepare(rows(arrays, i)) for i in range(n)] for key, o in opened.items()}
    rng = random.Random(request.get("seed", 0))
    keys = [s.key for s in specs]
    outputs: dict[str, list] = {k: [None] * n for k in keys}
    for r in range(request["warmup"]):
        rng.shuffle(keys)
        for key in keys:
            out = opened[key].call(feeds[key][r % n])
            if outputs[key][r % n] is None:
                outputs[key][r % n] = np.asarray(out, dtype=np.float32)[0]
    times: dict[str, list[float]] = {k: [] for k in keys}
    clock = time.perf_counter_ns
    loads = [os.getloadavg()[0]]
    for r in range(request["runs"]):
        rng.shuffle(keys)
        for key in keys:
            call, feed = opened[key].call, feeds[key][r % n]
            t0 = clock()
            out = call(feed)
            times[key].append((clock() - t0) / 1e6)
            if outputs[key][r % n] is None:
                outputs[key][r % n] = np.asarray(out, dtype=np.float32)[0]
    loads.append(os.getloadavg()[0])
    filled = {k: np.stack([o for o in v if o is not None]) for k, v in outputs.items()}
    np.savez(request["outputs"], **{k.replace("/", "__"): v for k, v in filled.items()})
    return {"times_ms": times, "load_average": loads}


def _child(mode: str, request: dict, workdir: Path) -> dict:
    from mobilekit.bench.child import run_json_child

    return run_json_child(sys.executable, "mobilekit.bench.host", mode, request, workdir, timeout=CHILD_TIMEOUT_S,
                          what="the host benchmark child")


# -- the parent side -------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100), as numpy's default."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def machine_description() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gib = None
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_gib, 1) if mem_gib else None,
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "load_average_1m": round(os.getloadavg()[0], 2)}


def runtime_versions() -> dict:
    from importlib import metadata

    versions = {}
    for dist in ("torch", "onnxruntime", "ai-edge-litert", "numpy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def run_host_tier(specs: list[ModelSpec], inputs_npz: Path, workdir: Path, *, runs: int, warmup: int, seed: int = 0,
                  progress=None) -> tuple[dict, dict]:
    """Returns (results per model key, host outputs per model key as numpy arrays)."""
    import numpy as np

    workdir.mkdir(parents=True, exist_ok=True)
    probes = {}
    main = [s for s in specs if not s.diagnostic and s.signature is None]  # one bucket alone: timing only
    for spec in main:
        if progress:
            progress.describe(f"host CPU: load + memory probe, {spec.label}")
        probes[spec.key] = _child("probe", {"spec": asdict(spec), "inputs": str(inputs_npz)}, workdir)
        if progress:
            progress.advance()
    if progress:
        progress.describe(f"host CPU: {len(specs)} models x {runs} interleaved runs")
    outputs_path = workdir / "host-outputs.npz"
    timing = _child("time", {"specs": [asdict(s) for s in specs], "inputs": str(inputs_npz), "runs": runs, "warmup": warmup,
                             "seed": seed, "outputs": str(outputs_path)}, workdir)
    if progress:
        progress.advance()
    with np.load(outputs_path) as saved:
        outputs = {k.replace("__", "/"): saved[k] for k in saved.files}

    results = {}
    for spec in specs:
        times = timing["times_ms"][spec.key]
        entry = {
            "label": spec.label, "kind": spec.kind, "variant": spec.variant, "xnnpack": spec.xnnpack,
            "diagnostic": spec.diagnostic, "file_bytes": _size(Path(spec.path)),
            "bucket": spec.length if spec.signature else ("mix" if spec.buckets else None),
            "p50_ms": percentile(times, 50), "p90_ms": percentile(times, 90), "min_ms": min(times),
            "mean_ms": statistics.fmean(times), "runs": len(times),
        }
        entry.update(probes.get(spec.key, {}))
        results[spec.key] = entry
    reference = results.get("torch")
    for entry in results.values():
        entry["ratio_to_original"] = _ratios(entry, reference)
    meta = {"load_average": timing["load_average"], "runs": runs, "warmup": warmup, "seed": seed,
            "order": "round-robin, shuffled every round", "threads": 1}
    return {"models": results, "protocol": meta}, outputs


RATIO_FIELDS = ("p50_ms", "p90_ms", "load_ms", "first_inference_ms", "peak_memory_growth_bytes", "file_bytes")


def _ratios(entry: dict, reference: dict | None) -> dict:
    if reference is None:
        return {}
    ratios = {}
    for name in RATIO_FIELDS:
        a, b = entry.get(name), reference.get(name)
        ratios[name] = (a / b) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b > 0 else None
    return ratios


def _size(path: Path) -> int:
    if path.is_dir():  # the original model: its weights (a folder)
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and p.suffix in (".safetensors", ".bin"))
    return path.stat().st_size


def _main(argv: list[str]) -> None:
    mode, request_path = argv[0], Path(argv[1])
    request = json.loads(request_path.read_text())
    result = probe_main(request) if mode == "probe" else timing_main(request)
    request_path.with_suffix(".out.json").write_text(json.dumps(result))


if __name__ == "__main__":
    _main(sys.argv[1:])

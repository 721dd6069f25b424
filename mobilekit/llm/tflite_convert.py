"""Causal LM -> TFLite variants with prefill/decode signatures and a KV cache (litert-torch).

The conversion runs in the litert-torch environment as a child process
(``mobilekit.llm._tflite_driver``; why a second environment: ``mobilekit.convert.litert_torch``).
Every variant holds one signature per ``spec.prefill_lengths`` entry (``prefill_<N>``) and
``decode``; inputs ``tokens`` int32 [1, T], ``input_pos`` int32 [T] and ``kv_cache_{k,v}_<i>``
float32 [1, kv_heads, context_length, head_dim]; outputs ``logits`` float32 [1, T, vocab] and the
updated caches. A float32 model that disagrees with torch is never written.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from mobilekit import variants as _v
from mobilekit.errors import ConversionError
from mobilekit.llm.kv_decoder import DecoderSpec

# float32, float16, dynamic-int8, int4 -> model_<variant>.tflite (the registry's text-generation variants)
VARIANT_FILES = {v.name: v.file_name for v in _v.variants(_v.TFLITE, _v.GENERATION)}
GUARD_TOLERANCE = 1e-3  # relative to the largest logit: float32 TFLite vs torch
DEFAULT_TIMEOUT_S = 3600
LOG_NAME = "litert_torch_llm.log"


@dataclass(frozen=True)
class LlmTfliteConversion:
    paths: dict[str, Path]
    seconds: dict[str, float]
    guard_max_abs_diff: float
    log_path: Path


def convert_llm_tflite(model_dir: Path, out_dir: Path, *, spec: DecoderSpec, variants: list[str],
                       int4_block_size: int, timeout_s: int = DEFAULT_TIMEOUT_S) -> LlmTfliteConversion:
    """Writes ``out_dir/model_<variant>.tflite`` for each of ``variants``."""
    from mobilekit.convert.litert_torch import _run_driver, litert_torch_python

    unknown = [v for v in variants if v not in VARIANT_FILES]
    if unknown:
        raise ConversionError(f"unknown text-generation TFLite variant(s) {unknown}", hint=f"use {', '.join(VARIANT_FILES)}")
    python = litert_torch_python()
    out_dir = Path(out_dir)
    work = out_dir / "_work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    paths = {v: out_dir / VARIANT_FILES[v] for v in variants}
    request = {"model_dir": str(Path(model_dir).resolve()), "spec": spec.to_dict(),
               "outputs": {v: str(p.resolve()) for v, p in paths.items()}, "int4_block_size": int4_block_size,
               "work_dir": str(work.resolve()), "result": str((work / "result.json").resolve())}
    request_path = work / "request.json"
    request_path.write_text(json.dumps(request, indent=2))
    log_path = out_dir / LOG_NAME
    start = time.monotonic()
    try:
        _run_driver(python, request_path, log_path, timeout_s, module="mobilekit.llm._tflite_driver")
        result = json.loads((work / "result.json").read_text())
        _check_guard(result, log_path)
        missing = [v for v, p in paths.items() if not p.is_file()]
        if missing:
            raise ConversionError(f"litert-torch finished but wrote no {', '.join(missing)} model", hint=f"see {log_path}")
    except ConversionError:
        for p in paths.values():
            p.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = {"total": time.monotonic() - start, **result["timings"]}
    return LlmTfliteConversion(paths=paths, seconds=seconds, guard_max_abs_diff=float(result["guard_max_abs_diff"]), log_path=log_path)


def _check_guard(result: dict, log_path: Path) -> None:
    guard = float(result["guard_max_abs_diff"])
    limit = GUARD_TOLERANCE * max(1.0, float(result["guard_reference_max"]))
    if not guard <= limit:
        raise ConversionError(
            f"litert-torch produced a float32 decoder that disagrees with torch (max abs logit diff {guard:.3g} > {limit:.3g})",
            hint=f"see {log_path}; this architecture's ops may not convert faithfully: please report it")

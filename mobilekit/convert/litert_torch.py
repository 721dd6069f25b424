"""Hugging Face folder -> TensorFlow Lite directly with litert-torch (``convert.tflite_route = "litert-torch"``).

The second TFLite route beside ONNX -> onnx2tf (``mobilekit.convert.tflite``). Same variants,
same file names, same signature (inputs ``input_ids``, ``attention_mask`` and, where the
architecture has them, ``token_type_ids``, int32 [1, seq]; one float32 output ``logits`` or
``embedding``), so the runners, verify and the SDKs take either route's models unchanged. Both
routes convert the same torch module (``onnx_export._load_wrapper``). Only this route makes length
buckets (``length_buckets``: one signature per sequence length in one file, sharing the weights;
the largest keeps ``serving_default``, see ``mobilekit.buckets``).

Why a second virtual environment: litert-torch 0.10.0 needs ai-edge-litert 2.3.x and numpy 2.x,
onnx2tf 1.29.24 pins ai-edge-litert 2.1.0 and numpy 1.26.4. One environment holding both cannot
be ``pip check`` clean, so ``bash setup/install.sh litert-torch`` builds its own under
``$MOBILEKIT_HOME/venvs/litert-torch`` and the conversion runs there as a child process
(``_litert_torch_driver``). The child sees mobilekit's own modules through a PYTHONPATH folder
that holds only the ``mobilekit`` package, never the main environment's site-packages.

Variants (ai-edge-quantizer on the float32 model; see the driver for details):
  float32       litert-torch's model
  float16       float16 weights (and fully connected biases) for FULLY_CONNECTED / EMBEDDING_LOOKUP,
                float compute
  dynamic-int8  int8 weights, activations quantized at run time (dynamic_legacy_wi8_afp32)
  full-int8     int8 weights and activations (static_wi8_ai8), calibrated on ``calibration``,
                attention-mask constant set to ``MASK_VALUE_FOR_INT8`` first, output op in float,
                embedding tables int8 as in dynamic-int8
  dynamic-int8-int4emb  dynamic-int8 with the word-embedding table int4 in blocks of a row
                (``mobilekit.convert.embedding_int4``); this route only
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mobilekit.convert.tflite import (
    GUARD_TOLERANCE,
    LITERT_TORCH_VARIANTS,
    TfliteConversion,
    check_calibration,
    check_variants,
    variant_file_name,
)
from mobilekit.errors import ConversionError, ToolMissingError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

COMPONENT = "litert-torch"
DEFAULT_TIMEOUT_S = 3600
LOG_NAME = "litert_torch.log"


def litert_torch_venv() -> Path:
    """Where ``setup/components/litert-torch.sh`` links the environment (it may be absent)."""
    from mobilekit.toolchains.tools import mobilekit_home

    return mobilekit_home() / "venvs" / "litert-torch"


def litert_torch_python() -> Path:
    """The environment's python; ToolMissingError with the install command when it is not there."""
    from mobilekit.toolchains.tools import setup_command

    venv = litert_torch_venv()
    python = venv / "bin" / "python"
    if not (venv / ".complete").is_file() or not python.exists():
        raise ToolMissingError(
            f"the litert-torch environment is not installed (looked in {venv})",
            hint=f"install it with: {setup_command(COMPONENT)}  "
                 '(or use convert.tflite_route = "onnx2tf")',
        )
    return python


def convert_tflite_litert_torch(
    model_dir: Path,
    out_dir: Path,
    *,
    task: str,
    sequence_length: int,
    pooling: str,
    normalize: bool,
    variants: list[str],
    calibration: dict[str, "np.ndarray"] | None,
    length_buckets: list[int] | None = None,
) -> dict[str, Path]:
    """Convert the model folder into the requested TFLite ``variants``; returns {variant: path}.

    ``length_buckets``: one signature per length (``mobilekit.buckets``), sharing the weights;
    default one, ``sequence_length``."""
    return convert_tflite_litert_torch_detailed(
        model_dir, out_dir, task=task, sequence_length=sequence_length, pooling=pooling,
        normalize=normalize, variants=variants, calibration=calibration, length_buckets=length_buckets).paths


def convert_tflite_litert_torch_detailed(
    model_dir: Path,
    out_dir: Path,
    *,
    task: str,
    sequence_length: int,
    pooling: str,
    normalize: bool,
    variants: list[str],
    calibration: dict[str, "np.ndarray"] | None,
    timeout_s: int = DEFAULT_TIMEOUT_S,
    keep_work_dir: bool = False,
    length_buckets: list[int] | None = None,
) -> TfliteConversion:
    """``convert_tflite_litert_torch`` plus per-step timings, the guard figure and the log path."""
    import numpy as np

    from mobilekit.buckets import problem
    from mobilekit.convert.onnx_export import check_model_for_task

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    check_variants(variants, LITERT_TORCH_VARIANTS)
    length_buckets = list(length_buckets or [sequence_length])
    if bad := problem(length_buckets, sequence_length):
        raise ConversionError(f"length buckets {length_buckets} are invalid: {bad}",
                              hint=f"give ascending lengths ending at the sequence length ({sequence_length})")
    info = check_model_for_task(model_dir, task=task, pooling=pooling, sequence_length=sequence_length)
    check_calibration(variants, calibration, info.input_names, sequence_length)
    python = litert_torch_python()

    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / "_litert_torch_work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    log_path = out_dir / LOG_NAME
    paths = {v: out_dir / variant_file_name(v) for v in variants}
    for p in paths.values():
        p.unlink(missing_ok=True)
    calibration_npz = None
    if calibration is not None:
        calibration_npz = work / "calibration.npz"
        np.savez(calibration_npz, **{n: np.asarray(calibration[n], dtype=np.int32)
                                     for n in info.input_names if n in calibration})
    request = {
        "model_dir": str(model_dir.resolve()), "task": task, "sequence_length": sequence_length,
        "length_buckets": length_buckets,
        "pooling": pooling, "normalize": normalize,
        "outputs": {v: str(p.resolve()) for v, p in paths.items()},
        "calibration_npz": str(calibration_npz) if calibration_npz else None,
        "work_dir": str(work.resolve()), "result": str((work / "result.json").resolve()),
    }
    request_path = work / "request.json"
    request_path.write_text(json.dumps(request, indent=2))

    start = time.monotonic()
    try:
        _run_driver(python, request_path, log_path, timeout_s)
    except ConversionError:
        _remove(paths.values())
        raise
    result = json.loads((work / "result.json").read_text())
    _check_result(result, paths, log_path)
    if not keep_work_dir:
        shutil.rmtree(work, ignore_errors=True)
    return TfliteConversion(paths=paths, seconds={"total": time.monotonic() - start, **result["timings"]},
                            guard_max_abs_diff=float(result["guard_max_abs_diff"]), log_path=log_path,
                            mask_constants_rewritten=int(result["mask_constants_rewritten"]))


def _check_result(result: dict, paths: dict[str, Path], log_path: Path) -> None:
    """Every requested file written and the float32 guard within tolerance, else ConversionError
    (and no model left where a stage could pick it up)."""
    missing = [v for v, p in paths.items() if not p.is_file()]
    if missing:
        _remove(paths.values())
        raise ConversionError(f"litert-torch finished but wrote no {', '.join(missing)} model",
                              hint=f"see {log_path}")
    guard = float(result["guard_max_abs_diff"])
    limit = GUARD_TOLERANCE * max(1.0, float(result["guard_reference_max"]))
    if not guard <= limit:
        _remove(paths.values())
        raise ConversionError(
            f"litert-torch produced a float32 model that disagrees with torch (max abs diff {guard:.3g} > {limit:.3g})",
            hint=f"see {log_path}; the onnx2tf route (convert.tflite_route = \"onnx2tf\") is the alternative")


def _remove(paths) -> None:
    for p in paths:
        Path(p).unlink(missing_ok=True)


def _run_driver(python: Path, request_path: Path, log_path: Path, timeout_s: int,
                module: str = "mobilekit.convert._litert_torch_driver") -> None:
    """Runs ``module`` in the litert-torch environment on ``request_path``; its output goes to
    ``log_path``, a failure becomes a ConversionError with the log's tail."""
    from mobilekit.toolchains.process import ProcessFailed, child_env, run

    env = child_env(TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"), CUDA_VISIBLE_DEVICES="")
    argv = [str(python), "-m", module, str(request_path.resolve())]
    header = f"$ {' '.join(argv)}\n(PYTHONPATH={env['PYTHONPATH']})\n"
    try:
        output = run(argv, cwd=request_path.parent, env=env, timeout=timeout_s)
    except ProcessFailed as e:
        log_path.write_text(header + e.output, encoding="utf-8")
        tail = "\n".join(line for line in e.output.strip().splitlines()[-15:])
        what = (f"took longer than {timeout_s} s and was stopped" if e.returncode == 124
                else f"failed (exit code {e.returncode})")
        raise ConversionError(
            f"litert-torch conversion {what}:\n{tail}",
            hint=f"the full log is in {log_path}; if the model's ops are not supported by litert-torch, "
                 'use convert.tflite_route = "onnx2tf"') from e
    log_path.write_text(header + output, encoding="utf-8")

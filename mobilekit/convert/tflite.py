"""ONNX -> TensorFlow Lite through onnx2tf, in a child process.

Variants:
  float32       onnx2tf's float32 model
  float16       onnx2tf's float16-weights model (float32 inputs/outputs, weights dequantized at load)
  dynamic-int8  int8 weights, float activations (TFLiteConverter on onnx2tf's keras model)
  full-int8     int8 weights and activations, calibrated on ``calibration`` (int32 token ids in,
                float32 out); made from a copy of the ONNX graph whose attention-mask constant
                (float32 min) is rewritten to ``MASK_VALUE_FOR_INT8``: with float32 min the
                calibrated scale of the masked scores is ~1e36 and every real score rounds to 0.

Why a child process: onnx2tf calls ``sys.exit`` on errors and prints thousands of lines;
TensorFlow keeps its memory until the process ends. The child's whole output goes to
``out_dir/onnx2tf.log``.

Why our own TFLiteConverter call for the int8 variants: onnx2tf's calibration path
(``custom_input_op_name_np_data_path``, 1.29.24) casts every calibration array to float32 and
normalizes it with a mean/std like an image, which does not fit int32 token ids.

Guard: after converting, the float32 model is run on a probe batch and compared with
onnxruntime. onnx2tf silently produces wrong outputs in some shapes (known: sequence length equal
to the hidden size moves a Gather to the wrong axis); the guard turns that into a ConversionError.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mobilekit import variants as _v
from mobilekit.errors import ConversionError, ModelInputError
from mobilekit.toolchains.process import ProcessFailed, child_env, run_logged

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

# Both routes: float32, float16, dynamic-int8, full-int8 (not the registry's LITERT_TORCH_ONLY).
VARIANTS = tuple(n for n in _v.names(_v.TFLITE, _v.ENCODER) if n not in _v.LITERT_TORCH_ONLY)
LITERT_TORCH_VARIANTS = _v.names(_v.TFLITE, _v.ENCODER)
# The value written over the attention mask's float32-min constant before full-int8 calibration.
# -30 keeps softmax weights of padded positions below ~1e-13 relative while letting the calibrated
# range of masked scores stay near [-40, 10] (int8 step ~0.2).
MASK_VALUE_FOR_INT8 = -30.0
# Anything this negative in a scalar float constant is treated as an attention-mask constant.
_MASK_CONSTANT_THRESHOLD = -1e30
# Max abs diff allowed between onnx2tf's float32 model and onnxruntime in the built-in guard,
# relative to the largest reference magnitude (at least 1).
GUARD_TOLERANCE = 1e-3
DEFAULT_TIMEOUT_S = 3600


@dataclass
class TfliteConversion:
    """What ``convert_tflite_detailed`` made: one path per variant, timings, the guard's figure."""

    paths: dict[str, Path]
    seconds: dict[str, float] = field(default_factory=dict)
    guard_max_abs_diff: float | None = None
    log_path: Path | None = None
    mask_constants_rewritten: int = 0

    def to_dict(self) -> dict:
        return {
            "paths": {k: str(v) for k, v in self.paths.items()},
            "seconds": dict(self.seconds),
            "guard_max_abs_diff": self.guard_max_abs_diff,
            "log_path": str(self.log_path) if self.log_path else None,
            "mask_constants_rewritten": self.mask_constants_rewritten,
        }


def variant_file_name(variant: str) -> str:
    return _v.get(_v.TFLITE, variant).file_name


def prepare_onnx_for_onnx2tf(onnx_path: Path, out_path: Path, *,
                             mask_value: float | None = None) -> int:
    """Copy ``onnx_path`` to ``out_path`` ready for onnx2tf; return how many mask constants changed.

    * The batch axis is fixed to 1 on every input and output (apps run one text at a time).
      With a symbolic batch, Shape ops survive onnxsim and onnx2tf 1.29 fails on them
      ("Dimensions must be equal", bool Mul in the mask expansion).
    * With ``mask_value``, scalar float constants below -1e30 (the attention mask's float32 min)
      are set to ``mask_value`` (see MASK_VALUE_FOR_INT8).
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_param")
            dims[0].dim_value = 1
    del model.graph.value_info[:]
    count = 0

    def fix(tensor) -> bool:
        if tensor.data_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16):
            return False
        arr = numpy_helper.to_array(tensor)
        if arr.size != 1 or not float(arr.reshape(-1)[0]) < _MASK_CONSTANT_THRESHOLD:
            return False
        tensor.CopyFrom(numpy_helper.from_array(np.full(arr.shape, mask_value, dtype=arr.dtype), tensor.name))
        return True

    if mask_value is not None:
        for init in model.graph.initializer:
            count += fix(init)
        for node in model.graph.node:
            if node.op_type in ("Constant", "ConstantOfShape"):
                for attr in node.attribute:
                    if attr.type == onnx.AttributeProto.TENSOR:
                        count += fix(attr.t)
    onnx.save(model, str(out_path))
    return count


def _static_input_shapes(onnx_path: Path) -> dict[str, list]:
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    shapes = {}
    for inp in model.graph.input:
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                for d in inp.type.tensor_type.shape.dim]
        shapes[inp.name] = dims
    return shapes


def check_variants(variants: list[str], allowed: tuple[str, ...] = VARIANTS) -> None:
    """The route makes every one of ``variants`` (``allowed``: the onnx2tf route's by default)."""
    if not variants:
        raise ModelInputError("no TFLite variant requested", hint=f"choose among: {', '.join(allowed)}")
    if only := [v for v in variants if v in _v.LITERT_TORCH_ONLY and v not in allowed]:
        raise ModelInputError(f"the onnx2tf route cannot make {', '.join(only)}",
                              hint='use convert.tflite_route = "litert-torch" (the default)')
    if unknown := [v for v in variants if v not in allowed]:
        raise ModelInputError(f"unknown TFLite variant(s) {unknown}", hint=f"choose among: {', '.join(allowed)}")


def check_calibration(variants: list[str], calibration, input_names: list[str], sequence_length: int) -> None:
    """full-int8 needs an int array [N, sequence_length] per model input (both routes)."""
    import numpy as np

    if not _v.needs_calibration(_v.TFLITE, variants):
        return
    if not calibration:
        raise ModelInputError("the full-int8 variant needs calibration data",
                              hint="pass calibration={input name: int32 [N, seq]} from tokenize()")
    for name in input_names:
        arr = calibration.get(name)
        if arr is None or np.ndim(arr) != 2 or np.shape(arr)[1] != sequence_length or len(arr) == 0:
            raise ModelInputError(
                f"calibration data for {name} must be an int array [N, {sequence_length}] "
                f"(got {None if arr is None else np.shape(arr)})")


def _probe_inputs(shapes: dict[str, list], calibration: dict[str, "np.ndarray"] | None) -> dict[str, "np.ndarray"]:
    """A few rows to compare float32 TFLite with onnxruntime: calibration rows, or synthetic ones."""
    import numpy as np

    if calibration:
        return {k: np.asarray(v[:4], dtype=np.int32) for k, v in calibration.items()}
    seq = int(shapes["input_ids"][1])
    rng = np.random.default_rng(0)
    rows = 3
    ids = rng.integers(5, 100, size=(rows, seq)).astype(np.int32)  # ids < 100: any vocab has them
    mask = np.ones((rows, seq), dtype=np.int32)
    for r, length in enumerate([seq, max(2, seq // 2), 2]):
        mask[r, length:] = 0
        ids[r, length:] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def convert_tflite(
    onnx_path: Path,
    out_dir: Path,
    *,
    variants: list[str],
    calibration: dict[str, "np.ndarray"] | None,
) -> dict[str, Path]:
    """Convert ``onnx_path`` into the requested TFLite ``variants``; returns {variant: path}."""
    return convert_tflite_detailed(onnx_path, out_dir, variants=variants, calibration=calibration).paths


def convert_tflite_detailed(
    onnx_path: Path,
    out_dir: Path,
    *,
    variants: list[str],
    calibration: dict[str, "np.ndarray"] | None,
    timeout_s: int = DEFAULT_TIMEOUT_S,
    guard: bool = True,
    keep_work_dir: bool = False,
) -> TfliteConversion:
    """``convert_tflite`` plus timings, the guard's max abs diff and the log path."""
    onnx_path, out_dir = Path(onnx_path), Path(out_dir)
    check_variants(variants)
    if not onnx_path.is_file():
        raise ModelInputError(f"ONNX model {onnx_path} does not exist")
    shapes = _static_input_shapes(onnx_path)
    if "input_ids" not in shapes:
        raise ModelInputError(f"{onnx_path.name} has no input_ids input (inputs: {sorted(shapes)})")
    for name, dims in shapes.items():
        if len(dims) != 2 or not isinstance(dims[1], int) or dims[1] <= 0:
            raise ConversionError(
                f"{onnx_path.name} input {name} has shape {dims}; TFLite conversion needs a fixed "
                "sequence length", hint="export the ONNX model with dynamic_length=False")
    check_calibration(variants, calibration, list(shapes), shapes["input_ids"][1])

    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / "_onnx2tf_work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    log_path = out_dir / "onnx2tf.log"
    paths = {v: out_dir / variant_file_name(v) for v in variants}
    for p in paths.values():
        p.unlink(missing_ok=True)

    request_path, rewritten = _write_request(onnx_path, work, paths, shapes, calibration)

    start = time.monotonic()
    try:
        _run_driver(request_path, log_path, timeout_s)
    except ConversionError:
        _remove(paths.values())
        raise
    seconds = {"total": time.monotonic() - start}
    seconds.update(json.loads((work / "result.json").read_text())["timings"])
    missing = [v for v, p in paths.items() if not p.is_file()]
    if missing:
        raise ConversionError(f"onnx2tf finished but wrote no {', '.join(missing)} model",
                              hint=f"see {log_path}")

    result = TfliteConversion(paths=paths, seconds=seconds, log_path=log_path,
                              mask_constants_rewritten=rewritten)
    if guard:
        guard_variant = _v.FLOAT32 if _v.FLOAT32 in paths else None
        if guard_variant:
            try:
                result.guard_max_abs_diff = _guard(onnx_path, paths[guard_variant], shapes, calibration, log_path)
            except ConversionError:
                _remove(paths.values())  # never leave a wrong model where a stage could pick it up
                raise
    if not keep_work_dir:
        shutil.rmtree(work, ignore_errors=True)
    return result


def _write_request(onnx_path: Path, work: Path, paths: dict[str, Path], shapes: dict, calibration) -> tuple[Path, int]:
    """The driver's request: one onnx2tf job for the variants that need no calibration, one for
    those that do (full-int8, on a graph whose mask constants are rewritten); returns the request
    file and how many mask constants were rewritten."""
    import numpy as np

    jobs = []
    plain = [v for v in paths if not _v.get(_v.TFLITE, v).needs_calibration]
    if plain:
        # onnx2tf names its outputs after the ONNX file's stem: give it a fixed one.
        src = work / "model.onnx"
        prepare_onnx_for_onnx2tf(onnx_path, src)
        jobs.append({"onnx": str(src), "work_dir": str(work / "plain"), "outputs": {v: str(paths[v]) for v in plain}})
    rewritten = 0
    calibration_npz = None
    calibrated = [v for v in paths if _v.get(_v.TFLITE, v).needs_calibration]  # full-int8
    if calibrated:
        src = work / "model_int8.onnx"
        rewritten = prepare_onnx_for_onnx2tf(onnx_path, src, mask_value=MASK_VALUE_FOR_INT8)
        jobs.append({"onnx": str(src), "work_dir": str(work / "int8"), "outputs": {v: str(paths[v]) for v in calibrated}})
        calibration_npz = work / "calibration.npz"
        np.savez(calibration_npz, **{k: np.asarray(calibration[k], dtype=np.int32) for k in shapes})
    request = {"jobs": jobs, "calibration_npz": str(calibration_npz) if calibration_npz else None,
               "result": str(work / "result.json")}
    request_path = work / "request.json"
    request_path.write_text(json.dumps(request, indent=2))
    return request_path, rewritten


def _remove(paths) -> None:
    for p in paths:
        Path(p).unlink(missing_ok=True)


def _run_driver(request_path: Path, log_path: Path, timeout_s: int) -> None:
    # onnx2tf runs onnxsim as a command: our interpreter's bin folder must be on PATH even when
    # the virtual environment is not activated (without onnxsim, shapes stay dynamic and fail).
    env = child_env(PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("CUDA_VISIBLE_DEVICES", "")
    try:
        run_logged([sys.executable, "-m", "mobilekit.convert._onnx2tf_driver", request_path], log_path=log_path,
                   cwd=request_path.parent, env=env, timeout=timeout_s)
    except ProcessFailed as e:
        if e.returncode == 124:
            raise ConversionError(f"onnx2tf took longer than {timeout_s} s and was stopped", hint=f"see {log_path}") from e
        raise ConversionError(f"onnx2tf conversion failed (exit code {e.returncode}): {_last_error_line(log_path)}",
                              hint=f"the full log is in {log_path}") from e


def _last_error_line(log_path: Path) -> str:
    lines = [ln.strip() for ln in log_path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "Error" in ln or "ERROR" in ln or "error" in ln:
            return ln[:300]
    return lines[-1][:300] if lines else "(empty log)"


def _guard(onnx_path: Path, tflite_path: Path, shapes: dict[str, list],
           calibration: dict[str, "np.ndarray"] | None, log_path: Path) -> float:
    import numpy as np

    from mobilekit.runners.onnx_runner import OnnxRunner
    from mobilekit.runners.tflite_runner import TfliteRunner

    probe = _probe_inputs(shapes, calibration)
    reference = OnnxRunner(onnx_path).run(probe)
    try:
        candidate = TfliteRunner(tflite_path).run(probe)
    except Exception as e:  # e.g. a Flex op the plain interpreter cannot run
        raise ConversionError(f"the converted float32 TFLite model does not run: {e}",
                              hint=f"see {log_path}") from e
    if candidate.shape != reference.shape:
        raise ConversionError(f"TFLite output shape {candidate.shape} differs from ONNX {reference.shape}")
    diff = float(np.max(np.abs(reference - candidate)))
    limit = GUARD_TOLERANCE * max(1.0, float(np.max(np.abs(reference))))
    if not diff <= limit:
        seq = shapes["input_ids"][1]
        hint = "compare the model with onnx2tf's -cotof check; see " + str(log_path)
        hidden = _hidden_size(onnx_path)
        if hidden is not None and hidden == seq:
            hint = (f"the sequence length ({seq}) equals the hidden size: onnx2tf 1.29 is known to "
                    "convert this shape wrongly. Choose another sequence length (e.g. "
                    f"{seq - 1 if seq > 2 else seq + 1}).")
        raise ConversionError(
            f"onnx2tf produced a float32 model that disagrees with ONNX (max abs diff {diff:.3g} > {limit:.3g})",
            hint=hint)
    return diff


def _hidden_size(onnx_path: Path) -> int | None:
    """Hidden size from the first LayerNormalization's scale (enough for BERT-family graphs)."""
    import onnx

    model = onnx.load(str(onnx_path))
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "LayerNormalization" and len(node.input) > 1 and node.input[1] in inits:
            return int(inits[node.input[1]].dims[0])
    return None

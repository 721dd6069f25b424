"""Run a TensorFlow Lite model with the LiteRT interpreter (ai_edge_litert) on the host.

Inputs are matched by NAME, never by position: onnx2tf may reorder inputs. The signature runner
is used when the model has a SignatureDef (onnx2tf with output_signaturedefs=True writes one);
otherwise tensor names such as ``serving_default_input_ids:0`` are matched to ``input_ids``.
``signature`` picks one signature of a file that has several (length buckets: ``seq_16``...).
Quantized (int8/uint8) inputs and outputs are (de)quantized with the tensor's scale/zero point,
so callers always pass the int32 ids / float values the ONNX model takes and get float32 back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mobilekit.errors import ModelInputError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np


@dataclass(frozen=True)
class TensorInfo:
    name: str  # the model-level name (signature name, or the cleaned tensor name)
    index: int
    shape: tuple[int, ...]
    dtype: "np.dtype"
    scale: float  # 0.0 when not quantized
    zero_point: int


def _clean_tensor_name(name: str) -> str:
    """'serving_default_input_ids:0' -> 'input_ids'; 'StatefulPartitionedCall:0' stays recognisable."""
    name = re.sub(r":\d+$", "", name)
    return re.sub(r"^serving_default_", "", name)


def _info(name: str, d: dict) -> "TensorInfo":
    q = d.get("quantization_parameters") or {}
    scales, zeros = q.get("scales"), q.get("zero_points")
    scale = float(scales[0]) if scales is not None and len(scales) == 1 else 0.0
    zero = int(zeros[0]) if zeros is not None and len(zeros) == 1 else 0
    shape = tuple(int(s) for s in d.get("shape_signature", d["shape"]))
    return TensorInfo(name=name, index=int(d["index"]), shape=shape, dtype=d["dtype"], scale=scale,
                      zero_point=zero)


QUANTIZED_DTYPES = ("int8", "uint8", "int16")


def quantize(values: "np.ndarray", info: TensorInfo) -> "np.ndarray":
    import numpy as np

    if info.scale == 0.0 or np.dtype(info.dtype) not in QUANTIZED_DTYPES:
        return np.asarray(values).astype(info.dtype)
    limits = np.iinfo(info.dtype)
    q = np.round(np.asarray(values, dtype=np.float32) / info.scale) + info.zero_point
    return np.clip(q, limits.min, limits.max).astype(info.dtype)


def dequantize(values: "np.ndarray", info: TensorInfo) -> "np.ndarray":
    import numpy as np

    if info.scale == 0.0 or np.dtype(info.dtype) not in QUANTIZED_DTYPES:
        return np.asarray(values, dtype=np.float32)
    return ((np.asarray(values).astype(np.float32) - info.zero_point) * info.scale).astype(np.float32)


class TfliteRunner:
    """One LiteRT interpreter. ``run`` loops one row at a time when the model's batch is fixed."""

    def __init__(self, model_path: Path, *, num_threads: int = 1, output_name: str | None = None,
                 signature: str | None = None):
        from ai_edge_litert.interpreter import Interpreter

        model_path = Path(model_path)
        if not model_path.is_file():
            raise ModelInputError(f"TFLite model {model_path} does not exist")
        self.path = model_path
        self.interpreter = Interpreter(model_path=str(model_path), num_threads=num_threads)
        signatures = self.interpreter.get_signature_list()
        self._runner = None
        if signature is not None and signature not in signatures:
            raise ModelInputError(f"{model_path.name} has no signature {signature!r} (has {', '.join(signatures) or 'none'})")
        if signatures:
            key = signature or ("serving_default" if "serving_default" in signatures else next(iter(signatures)))
            self.signature = key
            self._runner = self.interpreter.get_signature_runner(key)
            ins = {n: _info(n, d) for n, d in self._runner.get_input_details().items()}
            outs = {n: _info(n, d) for n, d in self._runner.get_output_details().items()}
        else:
            self.signature = None
            self.interpreter.allocate_tensors()
            ins = {_clean_tensor_name(d["name"]): _info(_clean_tensor_name(d["name"]), d)
                   for d in self.interpreter.get_input_details()}
            outs = {_clean_tensor_name(d["name"]): _info(_clean_tensor_name(d["name"]), d)
                    for d in self.interpreter.get_output_details()}
        self.inputs: dict[str, TensorInfo] = ins
        self.outputs: dict[str, TensorInfo] = outs
        if output_name is None:
            if len(outs) != 1:
                raise ModelInputError(f"{model_path.name} has outputs {sorted(outs)}; say which one to read")
            output_name = next(iter(outs))
        elif output_name not in outs:
            raise ModelInputError(f"{model_path.name} has no output {output_name!r} (has {sorted(outs)})")
        self.output_name = output_name
        self.input_names = list(ins)

    def _invoke(self, feed: dict[str, "np.ndarray"]) -> "np.ndarray":
        out_info = self.outputs[self.output_name]
        if self._runner is not None:
            raw = self._runner(**feed)[self.output_name]
        else:
            for name, value in feed.items():
                self.interpreter.set_tensor(self.inputs[name].index, value)
            self.interpreter.invoke()
            raw = self.interpreter.get_tensor(out_info.index)
        return dequantize(raw, out_info)

    def run(self, inputs: dict[str, "np.ndarray"]) -> "np.ndarray":
        import numpy as np

        missing = [n for n in self.input_names if n not in inputs]
        if missing:
            raise ModelInputError(
                f"{self.path.name} needs inputs {', '.join(missing)} (has {', '.join(self.input_names)})")
        n = len(inputs[self.input_names[0]])
        fixed_batch = {info.shape[0] for info in self.inputs.values()} == {1}
        step = 1 if fixed_batch else max(n, 1)
        outs = []
        for i in range(0, n, step):
            feed = {name: np.ascontiguousarray(quantize(inputs[name][i:i + step], info))
                    for name, info in self.inputs.items()}
            outs.append(self._invoke(feed))
        return np.concatenate(outs, axis=0).astype(np.float32, copy=False)


def run_tflite(model_path: Path, inputs: dict[str, "np.ndarray"], *, num_threads: int = 1) -> "np.ndarray":
    """Convenience: build a TfliteRunner and run it once."""
    return TfliteRunner(model_path, num_threads=num_threads).run(inputs)

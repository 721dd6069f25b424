"""Run an ONNX model with onnxruntime on the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mobilekit.errors import ModelInputError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np


class OnnxRunner:
    """One onnxruntime session; ``run`` feeds inputs by name and loops when the batch is fixed."""

    def __init__(self, model_path: Path, *, num_threads: int = 1):
        import onnxruntime as ort

        model_path = Path(model_path)
        if not model_path.is_file():
            raise ModelInputError(f"ONNX model {model_path} does not exist")
        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.path = model_path
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_name = self.session.get_outputs()[0].name
        batch_dims = {i.shape[0] for i in self.session.get_inputs()}
        # A fixed batch (an int in the shape) means we must feed that many rows at a time.
        self.fixed_batch = next(iter(batch_dims)) if len(batch_dims) == 1 and isinstance(
            next(iter(batch_dims)), int) else None

    def run(self, inputs: dict[str, "np.ndarray"]) -> "np.ndarray":
        import numpy as np

        missing = [n for n in self.input_names if n not in inputs]
        if missing:
            raise ModelInputError(f"{self.path.name} needs inputs {', '.join(missing)}")
        feed = {n: np.ascontiguousarray(inputs[n], dtype=np.int32) for n in self.input_names}
        n = len(feed[self.input_names[0]])
        step = self.fixed_batch or n
        if step <= 0:
            step = n
        outs = []
        for i in range(0, n, step):
            chunk = {k: v[i:i + step] for k, v in feed.items()}
            outs.append(self.session.run([self.output_name], chunk)[0])
        return np.concatenate(outs, axis=0).astype(np.float32, copy=False)


def run_onnx(model_path: Path, inputs: dict[str, "np.ndarray"], *, num_threads: int = 1) -> "np.ndarray":
    """Convenience: build an OnnxRunner and run it once."""
    return OnnxRunner(model_path, num_threads=num_threads).run(inputs)

"""One TFLite model in the LiteRT interpreter, as the benchmarks run it; also the ARM64 guest script.

This file imports only the standard library, numpy and ai_edge_litert, because it runs in two
places: imported on the host (``LiteRTModel`` times every variant there), and as a script inside
the emulated aarch64 Python (``python3.11 litert_guest.py request.json``), where mobilekit itself
is not installed. One implementation on both sides means the ARM outputs are compared with host
outputs computed exactly the same way.

The timed call is ``Interpreter.invoke()`` alone: inputs are copied in before it and the output is
read after it, as an app does once per text. Under qemu the guest brackets each invoke with marker
syscalls (getpid with a magic first argument; getpid ignores its arguments) that the
``insn_count.c`` plugin uses to count the ARM64 instructions executed in between.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

MARK_MAGIC = 0x6D6B62656E6368  # "mkbench"; the plugin's MARK_MAGIC
MARK_START, MARK_END = 1, 2
SYS_GETPID_AARCH64 = 172


def _clean(name: str) -> str:
    return re.sub(r"^serving_default_", "", re.sub(r":\d+$", "", name))


class LiteRTModel:
    """An interpreter with 1 thread (XNNPACK on unless ``xnnpack=False``), fed by input name."""

    def __init__(self, path: str, *, num_threads: int = 1, xnnpack: bool = True):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        self.interpreter = Interpreter(model_path=str(path), num_threads=num_threads, experimental_op_resolver_type=resolver)
        self.interpreter.allocate_tensors()
        signatures = self.interpreter.get_signature_list()
        inputs = outputs = None
        if signatures:
            key = "serving_default" if "serving_default" in signatures else next(iter(signatures))
            runner = self.interpreter.get_signature_runner(key)
            if getattr(runner, "_subgraph_index", 0) == 0:  # tensor indices of the main graph
                inputs, outputs = runner.get_input_details(), runner.get_output_details()
        if inputs is None:
            inputs = {_clean(d["name"]): d for d in self.interpreter.get_input_details()}
            outputs = {_clean(d["name"]): d for d in self.interpreter.get_output_details()}
        if len(outputs) != 1:
            raise ValueError(f"{path}: expected one output, found {sorted(outputs)}")
        self.inputs = inputs
        self.output_name, self.output = next(iter(outputs.items()))
        self.input_names = list(inputs)

    @staticmethod
    def _quant(details):
        """(scale, zero point) of a quantized integer tensor; (0.0, 0) for anything else."""
        import numpy as np

        q = details.get("quantization_parameters") or {}
        scales, zeros = q.get("scales"), q.get("zero_points")
        if scales is None or len(scales) != 1 or np.dtype(details["dtype"]).name not in ("int8", "uint8", "int16"):
            return 0.0, 0
        return float(scales[0]), int(zeros[0])

    def prepare(self, row: dict) -> list:
        """The (tensor index, array) pairs for one text: ``row`` maps input names to [1, seq] ids."""
        import numpy as np

        feed = []
        for name, details in self.inputs.items():
            if name not in row:
                raise KeyError(f"the model needs input {name!r}; given {sorted(row)}")
            value = np.asarray(row[name])
            scale, zero = self._quant(details)
            if scale:
                info = np.iinfo(details["dtype"])
                value = np.clip(np.round(value.astype(np.float32) / scale) + zero, info.min, info.max)
            feed.append((details["index"], np.ascontiguousarray(value.astype(details["dtype"]))))
        return feed

    def set_inputs(self, feed: list) -> None:
        for index, value in feed:
            self.interpreter.set_tensor(index, value)

    def invoke(self) -> None:
        self.interpreter.invoke()

    def output_value(self):
        import numpy as np

        raw = self.interpreter.get_tensor(self.output["index"])
        scale, zero = self._quant(self.output)
        if scale:
            return ((raw.astype(np.float32) - zero) * scale).astype(np.float32)
        return np.asarray(raw, dtype=np.float32)

    def __call__(self, feed: list):
        self.set_inputs(feed)
        self.invoke()
        return self.output_value()

    def op_counts(self) -> dict:
        """How many of each TFLite builtin op the graph holds (before delegation)."""
        counts: dict = {}
        try:
            ops = self.interpreter._get_ops_details()  # noqa: SLF001 - the only public-ish op list
        except Exception:  # noqa: BLE001 - diagnostics only
            return counts
        for op in ops:
            counts[op["op_name"]] = counts.get(op["op_name"], 0) + 1
        return counts


def rows(arrays: dict, index: int) -> dict:
    return {name: value[index:index + 1] for name, value in arrays.items()}


# -- the guest side --------------------------------------------------------------------------


def _marker():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    magic = ctypes.c_uint64(MARK_MAGIC)

    def mark(which: int) -> None:
        libc.syscall(ctypes.c_long(SYS_GETPID_AARCH64), magic, ctypes.c_uint64(which))

    return mark


def guest_main(request_path: str) -> None:
    """Warm up, then count each of ``runs`` inferences between markers; write outputs and maps."""
    import numpy as np

    with open(request_path, encoding="utf-8") as f:
        request = json.load(f)
    mark = _marker()
    arrays = dict(np.load(request["inputs"]))
    n = len(next(iter(arrays.values())))
    started = time.perf_counter()
    model = LiteRTModel(request["model"], num_threads=1, xnnpack=request.get("xnnpack", True))
    load_s = time.perf_counter() - started
    feeds = [model.prepare(rows(arrays, i)) for i in range(n)]
    for i in range(request["warmup"]):
        model(feeds[i % n])
    for _ in range(request["empty_windows"]):  # the markers' own cost, subtracted on the host
        mark(MARK_START)
        mark(MARK_END)
    outputs, wall = [], []
    for i in range(request["runs"]):
        model.set_inputs(feeds[i % n])
        t0 = time.perf_counter()
        mark(MARK_START)
        model.invoke()
        mark(MARK_END)
        wall.append(time.perf_counter() - t0)
        outputs.append(model.output_value()[0])
    np.save(request["outputs"], np.stack(outputs))
    with open("/proc/self/maps", encoding="utf-8") as f:
        maps = f.read()
    result = {"load_s": load_s, "wall_s": wall, "maps": maps, "op_counts": model.op_counts(),
              "machine": os.uname().machine}
    with open(request["result"], "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    guest_main(sys.argv[1])

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
    """An interpreter with 1 thread (XNNPACK on unless ``xnnpack=False``), fed by input name.

    ``signature`` runs one signature of a file with several (a length bucket, ``seq_16``): its
    subgraph's tensors are set, invoked and read through the interpreter's subgraph-indexed calls,
    as LiteRT's own SignatureRunner does, minus its per-call resize and allocation. Without it the
    main graph runs as before. ``interpreter`` lets several signatures share one loaded file.
    """

    def __init__(self, path: str, *, num_threads: int = 1, xnnpack: bool = True, signature: str | None = None,
                 interpreter=None):
        if interpreter is None:
            from ai_edge_litert.interpreter import Interpreter, OpResolverType

            resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            interpreter = Interpreter(model_path=str(path), num_threads=num_threads, experimental_op_resolver_type=resolver)
            interpreter.allocate_tensors()
        self.interpreter = interpreter
        self.subgraph = 0
        signatures = self.interpreter.get_signature_list()
        inputs = outputs = None
        if signature is not None and signature not in signatures:
            raise ValueError(f"{path}: no signature {signature!r} (has {sorted(signatures)})")
        if signatures:
            key = signature or ("serving_default" if "serving_default" in signatures else next(iter(signatures)))
            runner = self.interpreter.get_signature_runner(key)
            self.subgraph = getattr(runner, "_subgraph_index", 0)
            if self.subgraph == 0 or signature is not None:
                inputs, outputs = runner.get_input_details(), runner.get_output_details()
        if self.subgraph != 0 and signature is not None:
            self.interpreter._interpreter.AllocateTensors(self.subgraph)  # noqa: SLF001 - as SignatureRunner does
        elif inputs is None:
            self.subgraph = 0
            inputs = {_clean(d["name"]): d for d in self.interpreter.get_input_details()}
            outputs = {_clean(d["name"]): d for d in self.interpreter.get_output_details()}
        if len(outputs) != 1:
            raise ValueError(f"{path}: expected one output, found {sorted(outputs)}")
        self.inputs = inputs
        self.output_name, self.output = next(iter(outputs.items()))
        self.input_names = list(inputs)
        self.length = int(next(iter(inputs.values()))["shape"][-1])

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
        """The (tensor index, array) pairs for one text: ``row`` maps input names to [1, seq] ids
        (cut to this signature's length when longer: a bucket's timing probe)."""
        import numpy as np

        feed = []
        for name, details in self.inputs.items():
            if name not in row:
                raise KeyError(f"the model needs input {name!r}; given {sorted(row)}")
            value = np.asarray(row[name])[..., :self.length]
            scale, zero = self._quant(details)
            if scale:
                info = np.iinfo(details["dtype"])
                value = np.clip(np.round(value.astype(np.float32) / scale) + zero, info.min, info.max)
            feed.append((details["index"], np.ascontiguousarray(value.astype(details["dtype"]))))
        return feed

    def set_inputs(self, feed: list) -> None:
        if self.subgraph:
            for index, value in feed:
                self.interpreter._interpreter.SetTensor(index, value, self.subgraph)  # noqa: SLF001
            return
        for index, value in feed:
            self.interpreter.set_tensor(index, value)

    def invoke(self) -> None:
        if self.subgraph:
            self.interpreter._interpreter.Invoke(self.subgraph)  # noqa: SLF001
        else:
            self.interpreter.invoke()

    def output_value(self):
        import numpy as np

        if self.subgraph:
            raw = self.interpreter._interpreter.GetTensor(self.output["index"], self.subgraph)  # noqa: SLF001
        else:
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


class LiteRTBuckets:
    """A length-bucketed file run as the SDKs run it: each text in the smallest bucket that holds
    it (its ``attention_mask`` count), the largest for longer texts. One interpreter, one
    ``LiteRTModel`` per signature; ``signatures`` maps lengths to signature names."""

    def __init__(self, path: str, signatures: dict, *, num_threads: int = 1, xnnpack: bool = True):
        main = LiteRTModel(path, num_threads=num_threads, xnnpack=xnnpack)
        self.models = {int(length): LiteRTModel(path, signature=name, interpreter=main.interpreter)
                       for length, name in signatures.items()}
        self.interpreter = main.interpreter
        self.output_name = main.output_name
        self.current = None

    def bucket_for(self, row: dict) -> int:
        count = int(row["attention_mask"].sum())
        fitting = [b for b in self.models if b >= count]
        return min(fitting) if fitting else max(self.models)

    def prepare(self, row: dict) -> tuple:
        length = self.bucket_for(row)
        return length, self.models[length].prepare(row)

    def set_inputs(self, feed: tuple) -> None:
        self.current = self.models[feed[0]]
        self.current.set_inputs(feed[1])

    def invoke(self) -> None:
        self.current.invoke()

    def output_value(self):
        return self.current.output_value()

    def __call__(self, feed: tuple):
        return self.models[feed[0]](feed[1])

    def op_counts(self) -> dict:
        return next(iter(self.models.values())).op_counts()


def open_litert(path: str, *, signature: str | None = None, buckets: dict | None = None, xnnpack: bool = True):
    """The model a benchmark request names: the main graph, one signature, or the bucket mix."""
    if buckets:
        return LiteRTBuckets(path, buckets, xnnpack=xnnpack)
    return LiteRTModel(path, num_threads=1, xnnpack=xnnpack, signature=signature)


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

    if os.uname().machine != "aarch64":  # run natively (the same-runtime reference): nothing counts
        return lambda which: None
    return mark


def _litert_version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("ai-edge-litert")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def guest_main(request_path: str) -> None:
    """Warm up, then count each of ``runs`` inferences between markers; write outputs and maps."""
    import numpy as np

    with open(request_path, encoding="utf-8") as f:
        request = json.load(f)
    mark = _marker()
    arrays = dict(np.load(request["inputs"]))
    n = len(next(iter(arrays.values())))
    started = time.perf_counter()
    model = open_litert(request["model"], signature=request.get("signature"), buckets=request.get("buckets"),
                        xnnpack=request.get("xnnpack", True))
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
              "machine": os.uname().machine, "litert_version": _litert_version()}
    with open(request["result"], "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    guest_main(sys.argv[1])

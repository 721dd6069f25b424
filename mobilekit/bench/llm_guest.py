"""A causal-LM .tflite driven through its prefill/decode signatures: the ARM64 guest script.

Runs inside the emulated aarch64 Python (``python3.11 llm_guest.py request.json``) where only the
standard library, numpy and ai_edge_litert exist, so it reimplements the few lines of
``mobilekit.llm.tflite_runner`` it needs. Like ``litert_guest.py`` it brackets the runtime's own
work with marker syscalls that the ``insn_count.c`` plugin counts between: only the subgraph's
``Invoke`` is inside a window; copying the KV cache in and out and picking the next token happen
outside, as an app's loop does around the runtime.

Windows, in order (after the empty marker windows):
  1 x prefill: one call of ``prefill_<N>`` (N = the largest prefill length) with N real tokens;
  k x decode:  one call of ``decode`` per token, fed the token list the host gives (teacher forced,
               so the ARM logits can be compared step by step with the host's).
Warm-up first calls every signature used once: XNNPACK packs weights on a subgraph's first run.
"""

from __future__ import annotations

import json
import os
import sys
import time

# Same markers as litert_guest.py (and insn_count.c): getpid with a magic first argument. In the
# guest mobilekit is not installed; the script's own folder (on sys.path) holds litert_guest.py.
try:
    from mobilekit.bench.litert_guest import MARK_END, MARK_START, _marker
except ImportError:  # pragma: no cover - the guest side
    from litert_guest import MARK_END, MARK_START, _marker


class SignatureStep:
    """One signature of the interpreter: set inputs, invoke (the counted part), read outputs."""

    def __init__(self, interpreter, name: str):
        runner = interpreter.get_signature_runner(name)
        self.wrapper, self.subgraph = runner._interpreter_wrapper, runner._subgraph_index  # noqa: SLF001
        self.inputs = runner._inputs  # noqa: SLF001  name -> tensor index
        self.outputs = dict(runner._outputs)  # noqa: SLF001
        self.wrapper.AllocateTensors(self.subgraph)

    def set_inputs(self, values: dict) -> None:
        for name, value in values.items():
            self.wrapper.SetTensor(self.inputs[name], value, self.subgraph)

    def invoke(self) -> None:
        self.wrapper.Invoke(self.subgraph)

    def output(self, name: str):
        return self.wrapper.GetTensor(self.outputs[name], self.subgraph)


class GuestDecoder:
    """Prefill/decode with the KV cache carried between calls as numpy arrays."""

    def __init__(self, path: str, spec: dict, mark=None):
        import numpy as np

        from ai_edge_litert.interpreter import Interpreter

        self.np, self.spec, self.mark = np, spec, mark
        self.interpreter = Interpreter(model_path=path, num_threads=1)
        self.steps = {name: SignatureStep(self.interpreter, name) for name in spec["signatures"]}
        self.cache_names = [f"kv_cache_{kind}_{i}" for i in range(spec["num_layers"]) for kind in ("k", "v")]
        self.reset()

    def reset(self) -> None:
        self.cache = {n: self.np.zeros(self.spec["cache_shape"], dtype=self.np.float32) for n in self.cache_names}

    def call(self, signature: str, tokens: list, positions: list, counted: bool = False):
        """Logits [T, vocab]; the cache moves on. ``counted``: Invoke sits inside a marker window."""
        np, step = self.np, self.steps[signature]
        step.set_inputs({"tokens": np.asarray([tokens], dtype=np.int32), "input_pos": np.asarray(positions, dtype=np.int32),
                         **self.cache})
        if counted:
            self.mark(MARK_START)
        step.invoke()
        if counted:
            self.mark(MARK_END)
        self.cache = {name: step.output(name) for name in self.cache_names}
        return step.output("logits")[0]


def count_windows(decoder: GuestDecoder, request: dict) -> tuple[list, list]:
    """The counted calls (see the module docstring); returns (logits rows, wall seconds per window)."""
    prompt, forced = request["prompt"], request["decode_tokens"]
    start = request["decode_start"]
    signature = f"prefill_{len(prompt)}"
    decoder.reset()
    t0 = time.perf_counter()
    rows = [decoder.call(signature, prompt, list(range(len(prompt))), counted=True)[-1]]
    wall = [time.perf_counter() - t0]
    for i, token in enumerate(forced):
        t0 = time.perf_counter()
        rows.append(decoder.call("decode", [token], [start + i], counted=True)[0])
        wall.append(time.perf_counter() - t0)
    return rows, wall


def warm_up(decoder: GuestDecoder, request: dict) -> None:
    prompt = request["prompt"]
    decoder.call(f"prefill_{len(prompt)}", prompt, list(range(len(prompt))))
    decoder.call("decode", [request["decode_tokens"][0]], [request["decode_start"]])


def guest_main(request_path: str) -> None:
    import numpy as np

    with open(request_path, encoding="utf-8") as f:
        request = json.load(f)
    mark = _marker()
    started = time.perf_counter()
    decoder = GuestDecoder(request["model"], request["spec"], mark)
    load_s = time.perf_counter() - started
    warm_up(decoder, request)
    for _ in range(request["empty_windows"]):  # the markers' own cost, subtracted on the host
        mark(MARK_START)
        mark(MARK_END)
    rows, wall = count_windows(decoder, request)
    np.save(request["outputs"], np.stack(rows).astype(np.float32))
    with open("/proc/self/maps", encoding="utf-8") as f:
        maps = f.read()
    result = {"load_s": load_s, "wall_s": wall, "maps": maps, "op_counts": {}, "machine": os.uname().machine}
    with open(request["result"], "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    guest_main(sys.argv[1])

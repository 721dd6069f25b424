"""Driving a converted Core ML causal LM on Linux: the package's functions run by mobilekit's MIL
interpreter (``mobilekit.mil``), the way the Swift SDK drives them with Core ML.

The calling convention (the SDK's too, see ``coreml_convert``):

* the cache starts as zeros, one array per ``spec.cache_names()``, of the dtype the functions
  declare (float16, or float32 for the ``float32`` variant);
* a prompt is prefilled in chunks (``plan_prefill``): full chunks of the longest prefill length,
  the rest in the shortest signature it fits, padded with token 0 at position ``PAD_POSITION``
  (padding writes nothing to the cache);
* each further token goes through ``decode`` at the next position; every call's updated caches
  (``kv_cache_*_out``) are the next call's ``kv_cache_*`` inputs.

``CoreMLLlmRunner`` loads the package once: each function's program on first use, every weight
decompressed once and shared by all functions (the functions of a multifunction package read
the same blobs), float16 weights kept widened to float32 so no run converts them again.

Speed (SmolLM2-shaped llama cut to 2 layers: hidden 576, vocab 49152, context 256; 2 busy
cores): load 0.3 s (float16) / 2.2 s (int4: unpacking), decode 17-24 ms per token of which the
49152 x 576 head is ~15 ms, prefill of a 64-token chunk 0.2 s. For the 30 layers of
SmolLM2-135M that extrapolates to ~0.1-0.15 s per decoded token and ~2-3 s per 64-token chunk:
20 prompts x 32 tokens in about two minutes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mobilekit.errors import ModelInputError
from mobilekit.llm.coreml_convert import OUTPUT_SUFFIX, read_llm_coreml_metadata
from mobilekit.llm.kv_decoder import PAD_POSITION, DecoderSpec, prefill_signature

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np


def run_coreml_llm(package_path: Path, function_name: str, inputs: dict[str, "np.ndarray"]) -> dict[str, "np.ndarray"]:
    """Run one function (``prefill_<N>`` or ``decode``) of a converted package once.

    ``inputs``: ``tokens``, ``input_pos`` and every ``kv_cache_*`` (any float dtype: cast to the
    declared one). Returns ``logits`` and the updated caches keyed by the input names
    (``kv_cache_k_0``, not the program's ``kv_cache_k_0_out``), like the TFLite signatures.
    """
    from mobilekit.mil.interpreter import MilProgram

    return _rename_outputs(MilProgram.from_package(Path(package_path), function=function_name).run(inputs))


def _rename_outputs(outputs: dict) -> dict:
    return {name[:-len(OUTPUT_SUFFIX)] if name.endswith(OUTPUT_SUFFIX) else name: value
            for name, value in outputs.items()}


def plan_prefill(count: int, prefill_lengths) -> list[tuple[int, int]]:
    """``count`` prompt tokens as ``(signature length, tokens in it)`` chunks: the longest
    signature while the rest fills it, then the shortest one that holds the rest."""
    lengths = sorted(set(prefill_lengths))
    if not lengths:
        raise ModelInputError("the decoder has no prefill signature")
    chunks = []
    while count > 0:
        length = lengths[-1] if count >= lengths[-1] else next(n for n in lengths if n >= count)
        chunks.append((length, min(count, length)))
        count -= chunks[-1][1]
    return chunks


class CoreMLLlmRunner:
    """One converted package, loaded once, run token by token (greedy ``generate`` included)."""

    def __init__(self, package_path: Path):
        from mobilekit.mil.package import load_model_spec

        self.path = Path(package_path)
        self.metadata = read_llm_coreml_metadata(self.path)
        self.spec: DecoderSpec = self.metadata["spec"]
        self._proto = load_model_spec(self.path)
        self._constants: dict = {}  # shared by every function's program: weights decompressed once
        self._programs: dict = {}
        missing = [n for n in self.spec.signature_names() if n not in self.metadata["functions"]]
        if missing:
            raise ModelInputError(f"{self.path} lacks the function(s) {', '.join(missing)} its spec names")

    def program(self, function: str):
        from mobilekit.mil.interpreter import MilProgram

        if function not in self._programs:
            self._programs[function] = MilProgram.from_package(
                self.path, function=function, spec=self._proto, constant_cache=self._constants, widen_constants=True)
        return self._programs[function]

    @property
    def cache_dtype(self):
        declared = {d.name: d.dtype for d in self.program("decode").inputs}
        return declared[self.spec.cache_names()[0]]

    def empty_cache(self) -> dict[str, "np.ndarray"]:
        import numpy as np

        return {name: np.zeros(self.spec.cache_shape(), dtype=self.cache_dtype) for name in self.spec.cache_names()}

    def run(self, function: str, inputs: dict[str, "np.ndarray"]) -> dict[str, "np.ndarray"]:
        """As ``run_coreml_llm``, with the loaded programs."""
        return _rename_outputs(self.program(function).run(inputs))

    def prefill(self, token_ids, cache: dict | None = None, *, start: int = 0):
        """Feed ``token_ids`` at positions ``start``...: ``(logits [len, vocab] float32, cache)``."""
        import numpy as np

        token_ids = [int(t) for t in token_ids]
        self._check_room(start, len(token_ids))
        cache = cache if cache is not None else self.empty_cache()
        rows, done = [], 0
        for length, used in plan_prefill(len(token_ids), self.spec.prefill_lengths):
            tokens = np.zeros((1, length), dtype=np.int32)
            positions = np.full((length,), PAD_POSITION, dtype=np.int32)
            tokens[0, :used] = token_ids[done:done + used]
            positions[:used] = np.arange(start + done, start + done + used)
            out = self.run(prefill_signature(length), {"tokens": tokens, "input_pos": positions, **cache})
            rows.append(out.pop("logits")[0, :used])
            cache, done = out, done + used
        return np.concatenate(rows, axis=0), cache

    def decode(self, token_id: int, position: int, cache: dict):
        """One token at ``position``: ``(logits [vocab] float32, cache)``."""
        import numpy as np

        self._check_room(position, 1)
        out = self.run("decode", {"tokens": np.array([[token_id]], dtype=np.int32),
                                  "input_pos": np.array([position], dtype=np.int32), **cache})
        return out.pop("logits")[0, 0], out

    def generate(self, prompt_ids, max_new_tokens: int, *, eos_token_ids=()) -> list[int]:
        """Greedy continuation of ``prompt_ids`` (at most ``max_new_tokens``, stops after an EOS)."""
        import numpy as np

        logits, cache = self.prefill(prompt_ids)
        position, token, generated = len(prompt_ids), int(np.argmax(logits[-1])), []
        while True:
            generated.append(token)
            if token in eos_token_ids or len(generated) >= max_new_tokens or position >= self.spec.context_length:
                return generated
            step, cache = self.decode(token, position, cache)
            position, token = position + 1, int(np.argmax(step))

    def _check_room(self, start: int, count: int) -> None:
        if start < 0 or start + count > self.spec.context_length:
            raise ModelInputError(f"positions {start}..{start + count - 1} do not fit the context of "
                                  f"{self.spec.context_length} tokens",
                                  hint="shorten the prompt or convert with a longer context_length")

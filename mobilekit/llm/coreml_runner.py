"""Driving a converted Core ML causal LM on Linux: the package's functions run by mobilekit's MIL
interpreter (``mobilekit.mil``), the way the Swift SDK drives them with Core ML.

The calling convention (the SDK's too, see ``coreml_convert``):

* the cache starts as zeros, one array per ``spec.cache_names()``, of the dtype the functions
  declare (float16, or float32 for the ``float32`` variant);
* a prompt is prefilled in chunks (``decoding.prefill_plan``): full chunks of the longest prefill length,
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
from mobilekit.llm.decoding import StepDecoder
from mobilekit.llm.kv_decoder import DecoderSpec

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



class CoremlDecoder(StepDecoder):
    """The package behind the shared prefill/decode loop (``mobilekit.llm.decoding``): chunking,
    padding, the context check and greedy decoding are the TFLite runner's, not a copy."""

    def __init__(self, runner: CoreMLLlmRunner):
        super().__init__(runner.spec)
        self.runner = runner
        self.cache: dict = {}
        self.reset_cache()

    @classmethod
    def open(cls, path: Path, spec: DecoderSpec | None = None) -> "CoremlDecoder":
        runner = CoreMLLlmRunner(path)
        if spec is not None and spec.to_dict() != runner.spec.to_dict():
            raise ModelInputError(f"{path} was converted for another cache layout than the build's decoder",
                                  hint="rebuild the Core ML variants (mobilekit convert --force)")
        return cls(runner)

    def reset_cache(self) -> None:
        self.cache = self.runner.empty_cache()

    def run(self, signature: str, tokens: list[int], positions: list[int]):
        import numpy as np

        out = self.runner.run(signature, {"tokens": np.asarray([tokens], dtype=np.int32),
                                          "input_pos": np.asarray(positions, dtype=np.int32), **self.cache})
        self.cache = {name: out[name] for name in self.cache}
        return np.asarray(out["logits"][0], dtype=np.float32)

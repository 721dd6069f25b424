"""A causal-LM .tflite driven through its prefill/decode signatures by the LiteRT interpreter."""

from __future__ import annotations

from pathlib import Path

from mobilekit.llm.decoding import StepDecoder
from mobilekit.llm.kv_decoder import DecoderSpec


class TfliteDecoder(StepDecoder):
    def __init__(self, interpreter, spec: DecoderSpec):
        super().__init__(spec)
        self.interpreter = interpreter
        self.runners = {name: interpreter.get_signature_runner(name) for name in spec.signature_names()}
        self.cache = {}
        self.reset_cache()

    @classmethod
    def open(cls, path: Path, spec: DecoderSpec, threads: int = 1) -> "TfliteDecoder":
        from ai_edge_litert.interpreter import Interpreter

        return cls(Interpreter(str(path), num_threads=threads), spec)

    def reset_cache(self) -> None:
        import numpy as np

        self.cache = {name: np.zeros(self.spec.cache_shape(), dtype=np.float32) for name in self.spec.cache_names()}

    def run(self, signature: str, tokens: list[int], positions: list[int]):
        import numpy as np

        out = self.runners[signature](
            tokens=np.asarray([tokens], dtype=np.int32), input_pos=np.asarray(positions, dtype=np.int32), **self.cache)
        self.cache = {name: out[name] for name in self.cache}
        return out["logits"][0]

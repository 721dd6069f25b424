"""One tiny causal-LM project built through export -> convert -> verify -> bench, shared by
tests/llm/test_bench_llm.py and tests/llm/test_report_llm.py within a pytest session."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write_toml
from tests.tiny_lm import make_tiny_lm, train_tiny_lm
from tests.tiny_models import _cached

VARIANTS = ["float32", "int4"]  # a float reference and the block-wise int4 kernels
PROMPT_TOKENS, DECODE_TOKENS = 12, 6
CONTEXT, PREFILL = 48, [8, 16]


def emulator_reason() -> str | None:
    from mobilekit.bench.emulator import qemu_available

    return qemu_available()


def write_project(root: Path) -> Path:
    model = root / "model"
    if not model.exists():
        train_tiny_lm(make_tiny_lm(model, "llama"), steps=60)  # trained a little: greedy has clear margins
    return write_toml(root / "mobilekit.toml", {
        "project": {"name": "Tiny LLM bench"},
        "model": {"path": "model", "task": "text-generation", "sequence_length": 32},
        "generation": {"context_length": CONTEXT, "prefill_lengths": PREFILL},
        "convert": {"tflite": VARIANTS, "coreml": []},
        "verify": {"samples": 6, "greedy_prompts": 3, "greedy_tokens": 6},
        "bench": {"runs": 5, "warmup": 1, "samples": 4, "prompt_tokens": PROMPT_TOKENS, "decode_tokens": DECODE_TOKENS,
                  "emulator_runs": 2, "emulator": emulator_reason() is None},
        "android": {"enabled": False},
        "ios": {"enabled": False},
    })


def built_llm_project() -> Path:
    """The project folder after export, convert, verify and bench ran (build/ inside it)."""
    from mobilekit.config.loader import load_config
    from mobilekit.pipeline import Pipeline

    def build(root: Path) -> Path:
        toml = write_project(root)
        Pipeline(load_config(toml)).run(["export", "convert", "verify", "bench"])
        return root

    return _cached("llm-bench-project", build)

"""Which converted variant each SDK ships: the one the config names, or the smallest verify accepted."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mobilekit import variants as _v
from mobilekit.errors import VerificationError


@dataclass(frozen=True)
class ShippedModels:
    tflite_variant: str | None = None
    tflite_model: Path | None = None
    coreml_variant: str | None = None
    coreml_model: Path | None = None


def shipped_models(config, inputs: dict[str, Path], verify: dict) -> ShippedModels:
    """The variants the enabled platforms ship (``inputs``: the generate stage's, keyed by the
    registry's artifact keys ``tflite-<v>``/``coreml-<v>``)."""
    tflite_variant = tflite_model = coreml_variant = coreml_model = None
    if config.android.enabled:
        sizes = {v: _v.artifact_size(inputs[_v.tflite_key(v)]) for v in config.convert.tflite}
        tflite_variant = choose_variant(config.android.model_variant, list(config.convert.tflite), verify, _v.TFLITE, sizes)
        tflite_model = inputs[_v.tflite_key(tflite_variant)]
    if config.ios.enabled and config.convert.coreml:
        sizes = {v: _v.artifact_size(inputs[_v.coreml_key(v)]) for v in config.convert.coreml}
        coreml_variant = choose_variant(config.ios.model_variant, list(config.convert.coreml), verify, _v.COREML, sizes)
        coreml_model = inputs[_v.coreml_key(coreml_variant)]
    return ShippedModels(tflite_variant, tflite_model, coreml_variant, coreml_model)


def choose_variant(requested: str, candidates: list[str], verify: dict, prefix: str, sizes: dict[str, int]) -> str:
    """The variant to ship: the one asked for (it must have passed verify), or the smallest that did."""
    shipping = set(verify.get("shipping", []))
    if requested != "auto":
        name = _v.artifact_key(prefix, requested)
        if name not in shipping:
            reasons = verify.get("rejected", {}).get(name) or ["it was not built or verified"]
            raise VerificationError(
                f"{name} was asked for but verify did not accept it: {'; '.join(reasons)}",
                hint="pick another model_variant, or \"auto\" for the smallest accepted one",
            )
        return requested
    accepted = [c for c in candidates if _v.artifact_key(prefix, c) in shipping]
    if not accepted:
        raise VerificationError(
            f"no {prefix} variant passed verification (built: {', '.join(candidates) or 'none'})",
            hint="see verify/results.json for the reasons; loosen verify.accuracy_budget or add a float variant",
        )
    return min(accepted, key=lambda c: (sizes.get(c, 0), candidates.index(c)))

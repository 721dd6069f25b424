"""The variant registry: every model variant mobilekit can build, declared once.

A variant is one converted model: a format (``tflite`` or ``coreml``; the ``onnx`` export is the
source encoders are converted from, not a variant), a name within that format (``dynamic-int8``), and from those
its artifact key (``tflite-dynamic-int8``: the stage artifact, the manifest, verify's and the
report's JSON keys, the SDKs' choice) and its file name (``model_dynamic_int8.tflite``). Each
entry also says how it is made (compute precision, weight quantization and bits, and the
word-embedding table's bits where they differ: the mixed-precision ``*-int4emb`` variants), which
tolerance family verify and the ARM comparisons judge it by, whether it needs calibration text,
the Core ML deployment target it needs when that is above iOS 16, and which kinds of model
(encoders, text generation) can have it, and whether it is in their default list.

The config schema, the loader's checks, every stage, the converters (and their child-process
drivers), verify, bench and both SDKs read this table; adding a variant is one ``Variant`` entry
here plus the converter code that actually makes it.

This module imports the standard library only: the drivers import it in other Python
environments (``convert._litert_torch_driver``, ``llm._tflite_driver``, ``convert._onnx2tf_driver``),
and it must never import a stage or a heavy library.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# -- formats -------------------------------------------------------------------------------------

TFLITE = "tflite"
COREML = "coreml"
ONNX = "onnx"
FORMATS = (TFLITE, COREML, ONNX)
# What an artifact of each format is on disk: a file, or a package folder (sized as a whole tree).
SUFFIXES = {TFLITE: ".tflite", COREML: ".mlpackage", ONNX: ".onnx"}

# -- kinds of model ------------------------------------------------------------------------------

ENCODER = "encoder"  # text-classification, sentence-embedding: one forward pass per text
GENERATION = "text-generation"  # causal LMs with a KV cache (prefill/decode signatures)
KINDS = (ENCODER, GENERATION)


def kind_of(task: str) -> str:
    """The kind of model a config task is: ``text-generation`` or an encoder task."""
    return GENERATION if task == GENERATION else ENCODER


# -- names within a format (the config values) ---------------------------------------------------

FLOAT32 = "float32"
FLOAT16 = "float16"
DYNAMIC_INT8 = "dynamic-int8"  # tflite: int8 weights, activations quantized at run time
FULL_INT8 = "full-int8"  # tflite encoders: int8 weights and calibrated int8 activations
INT4 = "int4"  # text generation: block-wise int4 weights
INT8 = "int8"  # coreml: int8 weights, float16 compute
PALETTIZE6 = "palettize6"  # coreml: 64-entry k-means lookup table per weight
PALETTIZE4 = "palettize4"  # coreml: 16-entry lookup table
# Mixed precision, encoders: the layers int8, the word-embedding table int4 (by far its largest
# weight: MiniLM's 30522 x 384 table is half of its dynamic-int8 file). Opt-in, never a default.
DYNAMIC_INT8_INT4_EMBEDDING = "dynamic-int8-int4emb"  # tflite: dynamic-int8 + int4 blockwise table
INT8_INT4_EMBEDDING = "int8-int4emb"  # coreml: int8 + int4 blockwise table (iOS 18)

# -- tolerance families --------------------------------------------------------------------------
# Which budget a variant is judged by, named after what its weights/activations lose. Every
# variant names its family; the tables below say what each family means to each judge.

FAMILY_FLOAT32 = "float32"
FAMILY_FLOAT16 = "float16"
FAMILY_INT8_WEIGHTS = "int8-weights"  # int8 (or 6-bit palettized) weights, float activations
FAMILY_INT8_FULL = "int8-full"  # int8 weights and int8 activations (calibrated)
FAMILY_INT4_WEIGHTS = "int4-weights"  # 4-bit weights (int4 blocks or a 16-entry palette)
FAMILIES = (FAMILY_FLOAT32, FAMILY_FLOAT16, FAMILY_INT8_WEIGHTS, FAMILY_INT8_FULL, FAMILY_INT4_WEIGHTS)

# Encoder verify: the tolerance of ``mobilekit.verify.parity.DEFAULT_TOLERANCES`` each family gets.
# 4-bit weights on an encoder are judged with the loosest encoder budget, full-int8's (as Core ML
# palettize4 always was); parity itself has no int4 entry.
PARITY_TOLERANCES = {FAMILY_FLOAT32: FLOAT32, FAMILY_FLOAT16: FLOAT16, FAMILY_INT8_WEIGHTS: DYNAMIC_INT8,
                     FAMILY_INT8_FULL: FULL_INT8, FAMILY_INT4_WEIGHTS: FULL_INT8}
# Text-generation verify (``mobilekit.llm.verify_llm``): the family name it is passed (only
# float32 gets an extra logits check; the others are judged by perplexity and greedy agreement).
LLM_VERIFY_FAMILIES = {FAMILY_FLOAT32: "float32", FAMILY_FLOAT16: "float16", FAMILY_INT8_WEIGHTS: "int8",
                       FAMILY_INT4_WEIGHTS: "int4"}


def artifact_key(format: str, name: str) -> str:
    """``tflite`` + ``dynamic-int8`` -> ``tflite-dynamic-int8`` (also for names not in the registry)."""
    return f"{format}-{name}"


def tflite_key(name: str) -> str:
    return artifact_key(TFLITE, name)


def coreml_key(name: str) -> str:
    return artifact_key(COREML, name)


@dataclass(frozen=True)
class Variant:
    """One buildable model variant."""

    format: str  # TFLITE | COREML | ONNX
    name: str  # the config value within the format ("dynamic-int8")
    family: str  # tolerance family (FAMILIES)
    kinds: tuple[str, ...]  # kinds of model that can have it (KINDS)
    defaults: tuple[str, ...] = ()  # kinds whose default variant list includes it
    precision: str = FLOAT32  # compute precision of the program ("float32" | "float16")
    quantization: str | None = None  # how the weights are made smaller; None: stored as computed
    bits: int | None = None  # weight bits after quantization (None: float)
    needs_calibration: bool = False  # needs real task text (full-integer activation ranges)
    embedding_bits: int | None = None  # the word-embedding table's bits when they differ from ``bits``
    coreml_target: str | None = None  # Core ML: the deployment target the program needs, when above iOS 16

    @property
    def key(self) -> str:
        """The artifact key: ``<format>-<name>`` (``tflite-dynamic-int8``)."""
        return artifact_key(self.format, self.name)

    @property
    def file_name(self) -> str:
        """The converter's output file (or package folder) name, ``model_<name>.<suffix>``."""
        return self.file_name_for("model")

    def file_name_for(self, stem: str) -> str:
        return f"{stem}_{self.name.replace('-', '_')}{SUFFIXES[self.format]}"

    def applies_to(self, kind: str) -> bool:
        return kind in self.kinds

    @property
    def parity_tolerance(self) -> str:
        """The encoder verify tolerance name (a key of ``verify.parity.DEFAULT_TOLERANCES``)."""
        return PARITY_TOLERANCES[self.family]

    @property
    def llm_verify_family(self) -> str:
        """The family text-generation verify judges it by."""
        return LLM_VERIFY_FAMILIES[self.family]


_BOTH = (ENCODER, GENERATION)

REGISTRY: tuple[Variant, ...] = (
    # TensorFlow Lite (order: the config's documented choice order).
    Variant(TFLITE, FLOAT32, FAMILY_FLOAT32, _BOTH, defaults=_BOTH),
    Variant(TFLITE, FLOAT16, FAMILY_FLOAT16, _BOTH, defaults=(ENCODER,), quantization="float16", bits=16),
    Variant(TFLITE, DYNAMIC_INT8, FAMILY_INT8_WEIGHTS, _BOTH, defaults=_BOTH, quantization="int8-dynamic", bits=8),
    Variant(TFLITE, FULL_INT8, FAMILY_INT8_FULL, (ENCODER,), defaults=(ENCODER,), quantization="int8-static", bits=8,
            needs_calibration=True),
    Variant(TFLITE, DYNAMIC_INT8_INT4_EMBEDDING, FAMILY_INT4_WEIGHTS, (ENCODER,), quantization="int8-dynamic",
            bits=8, embedding_bits=4),
    Variant(TFLITE, INT4, FAMILY_INT4_WEIGHTS, (GENERATION,), defaults=(GENERATION,), quantization="int4-blockwise", bits=4),
    # Core ML (ML programs; every compressed variant computes in float16).
    Variant(COREML, FLOAT16, FAMILY_FLOAT16, _BOTH, defaults=_BOTH, precision=FLOAT16),
    Variant(COREML, FLOAT32, FAMILY_FLOAT32, _BOTH),
    Variant(COREML, INT8, FAMILY_INT8_WEIGHTS, _BOTH, precision=FLOAT16, quantization="int8", bits=8),
    Variant(COREML, PALETTIZE6, FAMILY_INT8_WEIGHTS, (ENCODER,), precision=FLOAT16, quantization="palettize", bits=6),
    Variant(COREML, PALETTIZE4, FAMILY_INT4_WEIGHTS, _BOTH, precision=FLOAT16, quantization="palettize", bits=4),
    # int4 storage (constexpr_blockwise_shift_scale with int4 data) exists from iOS 18 on.
    Variant(COREML, INT8_INT4_EMBEDDING, FAMILY_INT4_WEIGHTS, (ENCODER,), precision=FLOAT16, quantization="int8",
            bits=8, embedding_bits=4, coreml_target="iOS18"),
    Variant(COREML, INT4, FAMILY_INT4_WEIGHTS, (GENERATION,), precision=FLOAT16, quantization="int4", bits=4),
)

# TFLite variants only the litert-torch route (ai-edge-quantizer) makes: the onnx2tf route's
# TFLiteConverter quantizes every weight alike, it has no recipe per tensor.
LITERT_TORCH_ONLY = (DYNAMIC_INT8_INT4_EMBEDDING,)

_BY_KEY = {v.key: v for v in REGISTRY}
_BY_FORMAT_NAME = {(v.format, v.name): v for v in REGISTRY}


def by_key(key: str) -> Variant:
    """The variant of an artifact key; KeyError when there is none."""
    return _BY_KEY[key]


def get(format: str, name: str) -> Variant:
    """The variant ``name`` of ``format``; KeyError when there is none."""
    return _BY_FORMAT_NAME[(format, name)]


def find(format: str, name: str | None) -> Variant | None:
    """Like ``get``, None when unknown."""
    return _BY_FORMAT_NAME.get((format, name))


def variants(format: str, kind: str | None = None) -> tuple[Variant, ...]:
    """The variants of ``format`` (for one kind of model, or every one), in registry order."""
    return tuple(v for v in REGISTRY if v.format == format and (kind is None or kind in v.kinds))


def names(format: str, kind: str | None = None) -> tuple[str, ...]:
    """The config names allowed for ``format`` (and ``kind``), in registry order."""
    return tuple(v.name for v in variants(format, kind))


def default_names(format: str, kind: str, *, calibration_text: bool = True) -> tuple[str, ...]:
    """The variants built when the config does not list any (without calibration text, none that needs it)."""
    return tuple(v.name for v in variants(format, kind)
                 if kind in v.defaults and (calibration_text or not v.needs_calibration))


def needs_calibration(format: str, names_: list[str] | tuple[str, ...]) -> bool:
    """Whether any of these variants needs calibration text."""
    return any(v is not None and v.needs_calibration for v in (find(format, n) for n in names_))


def artifact_size(path: Path | str) -> int:
    """Bytes of an artifact: a file's size, or every file inside a package folder (``.mlpackage``)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


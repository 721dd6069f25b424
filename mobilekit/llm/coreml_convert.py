"""Causal LM folder -> one multifunction Core ML ``.mlpackage`` per variant (prefill_<N> + decode).

The graph is ``KvDecoder`` (see ``kv_decoder``), the one TFLite gets, traced once per signature:

    prefill_<N>: tokens int32 [1, N], input_pos int32 [N]   decode: tokens int32 [1, 1], input_pos int32 [1]
    inputs  kv_cache_{k,v}_<i>      [1, kv_heads, context_length, head_dim]
    outputs logits float32 [1, T, vocab], kv_cache_{k,v}_<i>_out (same shape and dtype as the inputs)

Design (coremltools 9.0, torch 2.13, measured on 2 CPU cores shared with other jobs):

* Cache: option A, explicit cache tensors in and out of every call (the SDK feeds each call's
  ``*_out`` arrays to the next call without reading them). Chosen over option B (stateful
  ``ct.StateType``): the graph stays the one TFLite runs and the tests verify (no second
  cache-writing path), the MIL interpreter needs no state ops, and stateful programs are kept
  off the Neural Engine (shared/design.md) while A's are not. What B would gain: no cache arrays
  crossing the API (A passes 2 x num_layers arrays in and out per call: SmolLM2-135M with a
  float16 cache of 256 positions, 60 x 96 KiB = 5.6 MiB each way) and an in-place update instead
  of fresh output arrays (in A an app can avoid that allocation with
  ``MLPredictionOptions.outputBackings`` pointing at the next call's inputs).
* Output names: Core ML refuses a function output named like an input (coremltools'
  ``dedup_op_and_var_names``: "used both as function's input and output"), so the updated caches
  are ``kv_cache_k_<i>_out`` (``output_cache_name``). ``coreml_runner`` hands them back under the
  input names, like the TFLite signatures.
* Cache dtype follows the compute precision: float16 for every float16-compute variant (half the
  bytes crossing the API, no cast at either end of the graph), float32 for ``float32``.
  ``logits`` stay float32. The metadata says which (``cache_dtype``).
* Float16 programs compute what depends on ``input_pos`` alone in float32 (``_fp16_precision``):
  float16 rotary angles are off by up to 0.06 rad at position 255. So are the RMS norms'
  statistics (``norm_statistics``): SmolLM2's squared activations overflow float16.
* Functions: coremltools multifunction works on Linux and stores each weight once for all
  functions (tiny llama, float32: the merged package is 210 KB with a 119 KB weight.bin; one
  iOS 16 package per signature would be 166 + 164 KB, each with its own 119 KB of weights).
  But it writes specification version 9 (opset CoreML8): iOS 18 / macOS 15. int4 per block
  (``constexpr_blockwise_shift_scale``) and grouped-channel palettization need iOS 18 anyway, so
  every variant targets iOS 18 and is one package with functions ``prefill_<N>`` and ``decode``
  (the default). The iOS 16 alternative (one package per signature) stores the weights once per
  signature, 2x for one prefill length: not worth it for a model whose size is the problem. The
  SDK loads one ``MLModel`` per function (``MLModelConfiguration.functionName``). The merge is
  ``save_multifunction``'s code without its no-op pass pipeline (``convert.coreml_functions``: 2-4 s saved per
  variant).

Measured on the tiny llama (2 layers, hidden 32, vocab 300; context 32, prefill 8), seconds
(float32 includes loading and tracing) and package bytes (protobuf ~90-110 KB, the rest
weights): float32 5.0 s / 210 KB, float16 3.6 s / 169 KB, int8 1.6 s / 150 KB, int4 1.9 s /
137 KB, palettize4 4.5 s / 151 KB. A SmolLM2-shaped llama cut to 2 layers (hidden 576, vocab
49152, context 256, prefill 64): float16 26 s / 71 MB, int4 14 s / 20 MB; peak RSS 2.3 GB.

Variants: ``float32`` (float32 compute and cache), ``float16``; ``int8`` (per output channel,
symmetric), ``int4`` (per block of ``int4_block_size`` input channels, symmetric),
``palettize4`` (16-entry k-means table per group of 16 output channels), all three with float16
compute. Compression is configured per op type (``linear``, ``gather`` the embedding, ``matmul``
with a constant operand), never globally. Weights with at most ``weight_threshold`` elements
stay float (norms, biases). Per-block int4 and grouped palettization silently skip a weight
whose dimension is not a multiple of the block or group size (coremltools only logs it): every
variant's ``CompressionReport.float_weights`` lists the weights of those op types that stayed
float, the metadata (``float_weights``) names them and a warning is logged.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mobilekit import variants as _v
from mobilekit.convert.coreml import package_size
from mobilekit.convert.coreml_functions import DEPLOYMENT_TARGET as MULTIFUNCTION_TARGET
from mobilekit.convert.coreml_functions import save_multifunction, write_package_metadata
from mobilekit.errors import ConversionError, ModelInputError
from mobilekit.llm.kv_decoder import DecoderSpec, decoder_spec

log = logging.getLogger("mobilekit.llm.coreml")

VARIANTS = _v.names(_v.COREML, _v.GENERATION)  # float16, float32, int8, palettize4, int4
DEFAULT_VARIANT = _v.default_names(_v.COREML, _v.GENERATION)[0]  # float16
TASK = "text-generation"
DEFAULT_INT4_BLOCK_SIZE = 32
PALETTE_GROUP_SIZE = 16
DEFAULT_WEIGHT_THRESHOLD = 2048  # coremltools' default: smaller tensors (norms, biases) stay float
OUTPUT_SUFFIX = "_out"
DEPLOYMENT_TARGET = MULTIFUNCTION_TARGET  # multifunction (specification 9); see the module docstring
# Op types whose constant weight operand is compressed, and which operand that is.
WEIGHT_OPERANDS = {"linear": ("weight",), "gather": ("x",), "matmul": ("x", "y")}


@dataclass(frozen=True)
class LlmRecipe:
    name: str
    precision: str  # compute precision: "float16" | "float32"
    compression: str | None = None  # None | "int8" | "int4" | "palettize4"


# From the registry's text-generation Core ML variants; a compressed one's compression is named
# after the variant (int8, int4, palettize4), as the package metadata records it.
RECIPES = {v.name: LlmRecipe(v.name, v.precision, v.name if v.quantization else None)
           for v in _v.variants(_v.COREML, _v.GENERATION)}


@dataclass
class CompressionReport:
    """What compression did to one variant: which large weights of the compressed op types stayed float."""

    variant: str
    float_weights: list[dict] = field(default_factory=list)  # {"function", "op", "op_type", "weight", "shape"}
    seconds: float = 0.0
    size_bytes: int = 0

    def weight_names(self) -> list[str]:
        """The float weights' constant names (each once, whichever functions use it)."""
        return sorted({w["weight"] for w in self.float_weights})

    def to_dict(self) -> dict:
        return asdict(self)


def output_cache_name(name: str) -> str:
    """The output that carries input cache ``name`` updated (``kv_cache_k_0`` -> ``kv_cache_k_0_out``)."""
    return name + OUTPUT_SUFFIX


def cache_dtype_for(variant: str) -> str:
    return "float32" if RECIPES[variant].precision == "float32" else "float16"


def convert_llm_coreml(
    model_dir: Path,
    out_dir: Path,
    *,
    spec: DecoderSpec,
    variants: list[str] | None = None,
    int4_block_size: int = DEFAULT_INT4_BLOCK_SIZE,
    metadata: dict | None = None,
    weight_threshold: int = DEFAULT_WEIGHT_THRESHOLD,
    output_stem: str = "model",
    reports: dict[str, CompressionReport] | None = None,
) -> dict[str, Path]:
    """Write ``{output_stem}_{variant}.mlpackage`` (functions ``spec.signature_names()``) into
    ``out_dir`` for each variant; return their paths.

    ``metadata``: ``author``/``short_description``/``version``/``license`` go to the standard
    fields, every other key to ``mobilekit.<key>`` (e.g. ``tokenizer``); ``spec``, ``task``,
    ``variant`` and the cache layout are always written (``read_llm_coreml_metadata``).
    ``reports``, when given, receives a ``CompressionReport`` per variant (seconds include the
    tracing and float conversions the variant was the first to need).
    """
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    variants = list(dict.fromkeys(variants or [DEFAULT_VARIANT]))
    _check_request(variants, int4_block_size)
    model = _load_model(model_dir)
    _check_spec(model, spec)
    user = _user_metadata(metadata or {}, spec)

    out_dir.mkdir(parents=True, exist_ok=True)
    functions = _FloatFunctions(model, spec)
    written: dict[str, Path] = {}
    start = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="mobilekit-llm-coreml-") as scratch:
            for i, variant in enumerate(variants):
                recipe = RECIPES[variant]
                compressed = {name: _compress(mlmodel, recipe, int4_block_size, weight_threshold)
                              for name, mlmodel in functions.get(recipe.precision).items()}
                if all(RECIPES[v].precision != recipe.precision for v in variants[i + 1:]):
                    functions.drop(recipe.precision)  # a 135M model holds ~0.5 GB per precision and signature
                path = out_dir / f"{output_stem}_{variant}.mlpackage"
                save_multifunction(compressed, Path(scratch) / variant, path, default="decode")
                written[variant] = path
                report = _finish_variant(path, recipe, metadata or {}, user, int4_block_size, weight_threshold)
                report.seconds, start = time.monotonic() - start, time.monotonic()
                if reports is not None:
                    reports[variant] = report
    except BaseException:
        for path in written.values():
            shutil.rmtree(path, ignore_errors=True)
        raise
    return written


class _FloatFunctions:
    """The uncompressed ``MLModel`` of every signature per compute precision, made on first use
    (tracing once for all precisions)."""

    def __init__(self, model, spec: DecoderSpec):
        self.model, self.spec = model, spec
        self._traced: dict | None = None
        self._converted: dict[str, dict] = {}

    def get(self, precision: str) -> dict:
        if precision not in self._converted:
            if self._traced is None:
                self._traced = _trace_all(self.model, self.spec)
            self._converted[precision] = {name: _convert_signature(module, self.spec, name, precision)
                                          for name, module in self._traced.items()}
        return self._converted[precision]

    def drop(self, precision: str) -> None:
        self._converted.pop(precision, None)


def _finish_variant(path: Path, recipe: LlmRecipe, metadata: dict, user: dict, int4_block_size: int,
                    weight_threshold: int) -> CompressionReport:
    """Scan what compression left float, write the metadata, size the package."""
    report = CompressionReport(recipe.name, float_weights=float_weights(path, weight_threshold)
                               if recipe.compression else [])
    if report.float_weights:
        log.warning("Core ML %s: %d weight(s) stayed float: %s", recipe.name, len(report.weight_names()),
                    ", ".join(report.weight_names()))
    write_package_metadata(path, metadata, {
        **user, "variant": recipe.name, "compute_precision": recipe.precision,
        "cache_dtype": cache_dtype_for(recipe.name), "weight_compression": recipe.compression or "none",
        **({"int4_block_size": int4_block_size} if recipe.compression == _v.INT4 else {}),
        "float_weights": report.weight_names()})
    report.size_bytes = package_size(path)
    return report


# --- checks -----------------------------------------------------------------------------------


def _check_request(variants: list[str], int4_block_size: int) -> None:
    unknown = [v for v in variants if v not in RECIPES]
    if unknown:
        raise ModelInputError(f"unknown Core ML LLM variant(s) {', '.join(map(repr, unknown))}",
                              hint=f"use any of: {', '.join(VARIANTS)}")
    if _v.INT4 in variants and int4_block_size < 1:
        raise ModelInputError(f"int4_block_size must be positive, got {int4_block_size}",
                              hint="use 32 (the default) or another divisor of the hidden and MLP sizes")


def _load_model(model_dir: Path):
    from mobilekit.llm.kv_decoder import load_causal_lm

    if not (model_dir / "config.json").is_file():
        raise ModelInputError(f"{model_dir} has no config.json", hint="pass a Hugging Face causal LM folder")
    try:
        return load_causal_lm(model_dir)
    except Exception as e:  # transformers raises OSError, ValueError, KeyError...
        raise ModelInputError(f"cannot load {model_dir} as a causal LM: {type(e).__name__}: {e}") from e


def _check_spec(model, spec: DecoderSpec) -> None:
    """The spec must describe this model (a stale spec would give caches of the wrong shape)."""
    actual = decoder_spec(model.config, spec.context_length, spec.prefill_lengths)
    if actual != spec:
        diff = {k: (v, getattr(actual, k)) for k, v in asdict(spec).items() if getattr(actual, k) != v}
        raise ModelInputError(f"the decoder spec does not match the model: {diff} (given, model)",
                              hint="build the spec with kv_decoder.decoder_spec(model.config, ...)")
    if not spec.prefill_lengths or min(spec.prefill_lengths) < 1 or max(spec.prefill_lengths) > spec.context_length:
        raise ModelInputError(f"prefill lengths {list(spec.prefill_lengths)} must lie in 1..{spec.context_length}")


# --- tracing and conversion -------------------------------------------------------------------


def _signature_lengths(spec: DecoderSpec) -> dict[str, int]:
    from mobilekit.llm.kv_decoder import prefill_signature

    return {**{prefill_signature(n): n for n in spec.prefill_lengths}, "decode": 1}


def _positional(decoder, spec: DecoderSpec):
    """``decoder`` with positional inputs and a tuple output, in the order the program declares."""
    import torch

    names = spec.cache_names()

    class Positional(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.decoder = decoder

        def forward(self, tokens, input_pos, *caches):
            out = self.decoder(tokens, input_pos, **dict(zip(names, caches)))
            return tuple(out[n] for n in ["logits", *names])

    return Positional().eval()


def _trace_all(model, spec: DecoderSpec) -> dict[str, object]:
    import torch

    from mobilekit.llm.kv_decoder import build_kv_decoder, sample_inputs

    try:
        module = _positional(build_kv_decoder(model, spec), spec)
    except Exception as e:
        raise ConversionError(
            f"cannot wrap the {spec.model_type} model as a KV-cache decoder: {type(e).__name__}: {e}",
            hint="the supported architectures are listed in kv_decoder.SUPPORTED_ARCHITECTURES") from e
    traced = {}
    for name, length in _signature_lengths(spec).items():
        sample = sample_inputs(spec, length)
        try:
            with torch.no_grad():
                traced[name] = torch.jit.trace(module, tuple(sample.values()), strict=False, check_trace=False)
        except Exception as e:  # torch.jit raises many unrelated types
            raise ConversionError(
                f"torch.jit.trace of the {spec.model_type} KV decoder failed for signature {name!r} "
                f"(tokens [1, {length}]): {type(e).__name__}: {e}",
                hint="Core ML conversion needs a traceable model (no data-dependent Python control flow); "
                     "check the architecture is one of kv_decoder.SUPPORTED_ARCHITECTURES") from e
    return traced


def _convert_signature(traced, spec: DecoderSpec, name: str, precision: str):
    import numpy as np

    import coremltools as ct

    from mobilekit.convert.coreml import _conversion_error, _register_missing_torch_ops, _register_saturate_pass

    length = _signature_lengths(spec)[name]
    cache = np.float16 if precision == "float16" else np.float32
    inputs = [ct.TensorType(name="tokens", shape=(1, length), dtype=np.int32),
              ct.TensorType(name="input_pos", shape=(length,), dtype=np.int32)]
    inputs += [ct.TensorType(name=n, shape=spec.cache_shape(), dtype=cache) for n in spec.cache_names()]
    outputs = [ct.TensorType(name="logits", dtype=np.float32)]
    outputs += [ct.TensorType(name=output_cache_name(n), dtype=cache) for n in spec.cache_names()]
    _register_missing_torch_ops()
    pipeline = ct.PassPipeline.DEFAULT
    if precision == "float16":
        pipeline.append_pass(_register_saturate_pass())
    try:
        mlmodel = ct.convert(
            traced, inputs=inputs, outputs=outputs, convert_to="mlprogram",
            minimum_deployment_target=getattr(ct.target, DEPLOYMENT_TARGET),
            compute_precision=_fp16_precision() if precision == "float16" else ct.precision.FLOAT32,
            pass_pipeline=pipeline, skip_model_load=True)
    except Exception as e:  # coremltools raises NotImplementedError, ValueError, RuntimeError, ...
        raise _conversion_error(e, f"{spec.model_type} {name}, {precision}") from e
    _check_io_names(mlmodel, [i.name for i in inputs], [o.name for o in outputs], name)
    return mlmodel


def _fp16_precision():
    """Float16 compute, except for what is computed from ``input_pos`` alone.

    The rotary angles are position x frequency: in float16 (spacing 0.125 at 255, 0.5 at 1000)
    they are off by up to 0.06 rad at position 255 and 0.25 rad at 1000, as Hugging Face
    computes them in float32 for that reason. That subgraph (angles, cos/sin, the mask and the
    one-hot cache write) is a few [T, head_dim] and [T, context] tensors: float32 costs nothing.
    """
    import coremltools as ct

    memo: dict[int, bool] = {}

    def position_only(var) -> bool:  # iterative: a 30-layer graph is deeper than Python's recursion limit
        stack = [var]
        while stack:
            v = stack[-1]
            if id(v) in memo:
                stack.pop()
                continue
            op = v.op
            if op is None or op.op_type == "const":
                memo[id(v)] = op is not None or v.name == "input_pos"
                stack.pop()
                continue
            pending = [u for u in op.get_flattened_inputs() if id(u) not in memo]
            if pending:
                stack.extend(pending)
                continue
            memo[id(v)] = all(memo[id(u)] for u in op.get_flattened_inputs())
            stack.pop()
        return memo[id(var)]

    def in_float16(op) -> bool:
        if norm_statistics(op):
            return False
        return not all(position_only(v) for v in op.get_flattened_inputs())

    return ct.transform.FP16ComputePrecision(op_selector=in_float16)


NORM_STATISTICS = ("pow", "reduce_mean", "reduce_sum_square", "rsqrt", "sqrt")
REDUCTIONS = ("reduce_mean", "reduce_sum", "reduce_sum_square")


def norm_statistics(op) -> bool:
    """The variance of an RMS norm (x^2, its mean, + eps, rsqrt), which float16 cannot hold.

    SmolLM2's residual stream reaches ~12,000: its square overflows float16 (65,504) and the
    float16 program answered with perplexity 5,577 instead of 33.7. Hugging Face computes these
    statistics in float32 for the same reason; the normalised output is small again, so only
    these few [T, 1] ops leave float16."""
    if op.op_type in NORM_STATISTICS:
        return True
    if op.op_type in ("add", "real_div", "mul"):
        return any(v.op is not None and v.op.op_type in REDUCTIONS for v in op.get_flattened_inputs())
    return False


def _check_io_names(mlmodel, inputs: list[str], outputs: list[str], signature: str) -> None:
    """coremltools renames an output it cannot name as asked: the SDK binds by name, so refuse that."""
    description = mlmodel.get_spec().description
    got_in, got_out = [i.name for i in description.input], [o.name for o in description.output]
    if got_in != inputs or got_out != outputs:
        raise ConversionError(f"the converted {signature} has inputs {got_in} and outputs {got_out}; "
                              f"expected {inputs} and {outputs}",
                              hint="a coremltools version change renamed them: pin coremltools 9.0")


# --- compression --------------------------------------------------------------------------------


def _op_config(recipe: LlmRecipe, block_size: int, threshold: int):
    import coremltools.optimize.coreml as cto

    if recipe.compression == _v.INT8:
        return cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", granularity="per_channel",
                                           weight_threshold=threshold)
    if recipe.compression == _v.INT4:
        return cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int4", granularity="per_block",
                                           block_size=block_size, weight_threshold=threshold)
    return cto.OpPalettizerConfig(mode="kmeans", nbits=4, granularity="per_grouped_channel",
                                  group_size=PALETTE_GROUP_SIZE, weight_threshold=threshold)


def _compress(mlmodel, recipe: LlmRecipe, block_size: int, threshold: int):
    if recipe.compression is None:
        return mlmodel
    import coremltools.optimize.coreml as cto

    op_config = _op_config(recipe, block_size, threshold)
    config = cto.OptimizationConfig(op_type_configs={op_type: op_config for op_type in WEIGHT_OPERANDS})
    compress = cto.palettize_weights if recipe.compression == _v.PALETTIZE4 else cto.linear_quantize_weights
    try:
        return compress(mlmodel, config=config)
    except Exception as e:
        raise ConversionError(f"Core ML weight compression {recipe.name!r} failed: {type(e).__name__}: {e}",
                              hint="palettization needs scikit-learn; try the int8 or float16 variant") from e


def float_weights(package: Path, weight_threshold: int = DEFAULT_WEIGHT_THRESHOLD) -> list[dict]:
    """Weights of the compressed op types (``WEIGHT_OPERANDS``) with more than ``weight_threshold``
    elements that are still plain float constants in ``package``: what compression skipped."""
    from mobilekit.mil.package import load_model_spec, tensor_shape

    program = load_model_spec(Path(package)).mlProgram
    found = []
    for function_name, function in program.functions.items():
        block = function.block_specializations[function.opset]
        consts = {op.outputs[0].name: tensor_shape(op.outputs[0].type.tensorType)
                  for op in block.operations if op.type == "const" and op.outputs[0].type.HasField("tensorType")}
        for op in block.operations:
            for param in WEIGHT_OPERANDS.get(op.type, ()):
                argument = op.inputs.get(param)
                if argument is None or len(argument.arguments) != 1:
                    continue
                weight = argument.arguments[0].name
                shape = consts.get(weight)
                if shape and _count(shape) > weight_threshold:
                    found.append({"function": function_name, "op": op.outputs[0].name, "op_type": op.type,
                                  "weight": weight, "shape": list(shape)})
    return found


def _count(shape) -> int:
    total = 1
    for d in shape:
        total *= int(d)
    return total


# --- packaging ----------------------------------------------------------------------------------


# --- metadata -----------------------------------------------------------------------------------


def _user_metadata(metadata: dict, spec: DecoderSpec) -> dict:
    import mobilekit
    from mobilekit.convert.coreml import STANDARD_METADATA

    fixed = {"task": TASK, "spec": spec.to_dict(), "functions": spec.signature_names(),
             "deployment_target": DEPLOYMENT_TARGET,
             "cache_outputs": {n: output_cache_name(n) for n in spec.cache_names()}}
    for key in fixed:
        if key in metadata and metadata[key] != fixed[key]:
            raise ModelInputError(f"metadata[{key!r}] = {metadata[key]!r} contradicts the conversion's {key}")
    user = {k: v for k, v in metadata.items() if k not in STANDARD_METADATA}
    user.setdefault("mobilekit_version", mobilekit.__version__)
    return {**user, **fixed}


def read_llm_coreml_metadata(path: Path) -> dict:
    """``read_coreml_metadata`` of the package, plus ``"spec"`` (a ``DecoderSpec``) and
    ``"functions"``: name -> {"inputs": [...], "outputs": [...]} as the package declares them."""
    from mobilekit.convert.coreml import read_coreml_metadata
    from mobilekit.mil.package import load_model_spec

    data = read_coreml_metadata(Path(path))
    ours = data["mobilekit"]
    if ours.get("task") != TASK or "spec" not in ours:
        raise ModelInputError(f"{path} is not a mobilekit text-generation Core ML package",
                              hint="convert it with convert_llm_coreml")
    description = load_model_spec(Path(path)).description
    data["spec"] = DecoderSpec.from_dict(ours["spec"])
    data["functions"] = {f.name: {"inputs": [i.name for i in f.input], "outputs": [o.name for o in f.output]}
                         for f in description.functions}
    data["default_function"] = description.defaultFunctionName
    return data

"""Hugging Face BERT-family folder -> Core ML ML programs (``.mlpackage``), one per variant.

The Core ML models keep the contract of the ONNX export (see ``onnx_export``): the same torch
wrapper is traced, with int32 inputs ``input_ids``, ``attention_mask`` (and ``token_type_ids`` for
architectures that have segment embeddings), shape ``(1, sequence_length)``, and one float32
output ``logits`` or ``embedding``. Batch 1 and a fixed length: that is what an app feeds, and
a fixed shape lets Core ML plan the whole graph ahead of time.

Variants (every one an ML program for iOS 16 / macOS 13, but int8-int4emb: iOS 18 / macOS 15):

* ``float32``: float32 weights and compute; the numerically faithful one.
* ``float16``: float16 weights and compute (the default: half the size, runs on the Neural Engine).
* ``int8``: float16 compute, ``linear`` and ``gather`` (embedding) weights quantized to int8,
  symmetric per output channel (``constexpr_affine_dequantize`` in the program).
* ``palettize6`` / ``palettize4``: float16 compute, ``linear`` and ``gather`` weights replaced by
  a 64- / 16-entry k-means lookup table (``constexpr_lut_to_dense``).
* ``int8-int4emb``: ``int8`` with the word-embedding table (the largest gathered constant) int4
  in blocks of a row, each block with its own scale (``convert.embedding_int4``); int4 storage
  (``constexpr_blockwise_shift_scale`` with int4 data, which also holds the int8 weights then)
  needs iOS 18 / macOS 15, so this variant's program targets iOS 18 (the package metadata's
  ``deployment_target`` says so, and the iOS SDK marks its model code available there).

Length buckets (``length_buckets``, see ``mobilekit.buckets``): with several, each variant is one
multifunction package (``convert.coreml_functions``) with a function ``seq_<N>`` per bucket, the
largest the default function; each function is the fixed-length program above, traced at its
length, and the merge stores every weight once. Chosen over enumerated shapes
(``ct.EnumeratedShapes``), measured on the tiny BERT with buckets 8/12/16: coremltools 9.0 allows
an enumerated shape on one input only below iOS 18, and the encoder has two or three; at iOS 18
the enumerated program has 110 non-constant ops against 63 for a fixed-length one (the shape
arithmetic of the mask and position ids: ``shape``, ``range_1d``, ``tile``, ``select``...), all
run on every prediction, and the MIL interpreter would need shape-polymorphic ops to verify it.
Multifunction keeps each bucket the static graph verify already trusts. Both need iOS 18 /
macOS 15, so a bucketed package targets iOS 18 (``convert.coreml_length_buckets = false`` keeps
one iOS 16 function). Measured on the tiny classifier, buckets 4/8/16: weights 48.3 KB for one
length, 50.0 KB for three (float16; palettize4 43.3 / 45.1 KB: k-means is deterministic, so the
functions' tables de-duplicate too); the extra bytes are the per-length constants (mask biases).

Compression is configured per op type, never globally: a global config would also touch
constants such as the attention-mask bias (see ``_SaturateFloat16Constants``).

Converter gaps worked around here (coremltools 9.0 with torch 2.13, see shared/toolchains.md):

* transformers' mask builder calls ``Tensor.new_ones`` (``and_masks``), which the TorchScript
  frontend lacks: ``_register_missing_torch_ops`` adds a converter for it (a constant when the
  size is static, a ``fill`` otherwise). It is registered only when coremltools has none, so a
  newer coremltools' own converter wins.
* The eager mask bias is ``finfo(float32).min``; cast to float16 it overflows to ``-inf``.
  ``_SaturateFloat16Constants`` (a MIL graph pass appended to the float16 pipeline) saturates
  infinite float16 constants to +-65504, so no ``-inf`` constant reaches the device (where
  ``-inf`` arithmetic can turn into NaN) and weight compression never sees one.

The written package carries its provenance (``_apply_metadata``): author, short description,
version and license in the standard fields, and everything else namespaced
``mobilekit.*`` in the user-defined metadata; ``read_coreml_metadata`` reads it back.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from mobilekit import variants as _v
from mobilekit.errors import ConversionError, ModelInputError

VARIANTS = _v.names(_v.COREML, _v.ENCODER)  # float16, float32, int8, palettize6, palettize4
DEFAULT_VARIANT = _v.default_names(_v.COREML, _v.ENCODER)[0]  # float16
METADATA_PREFIX = "mobilekit."
# Standard Core ML description fields, taken from ``metadata`` by these keys.
STANDARD_METADATA = {"author": "author", "short_description": "short_description", "version": "version",
                     "license": "license"}
# coremltools' default: tensors with at most this many elements stay uncompressed (biases, norms).
DEFAULT_WEIGHT_THRESHOLD = 2048
FLOAT16_MAX = 65504.0


@dataclass(frozen=True)
class CoreMLVariant:
    """How one variant is made."""

    NAME: str
    PRECISION: str  # "float16" | "float32": compute precision of the program
    COMPRESSION: str | None = None  # None | "int8" | "palettize"
    NBITS: int | None = None
    # Op types whose weights are compressed. linear: every dense layer; gather: the embedding tables.
    # (matmul operands are activations, layer_norm/bias tensors are below the threshold.)
    OP_TYPES: tuple[str, ...] = ()
    EMBEDDING_BITS: int | None = None  # 4: the word-embedding table int4 (``embedding_int4``), the rest as COMPRESSION
    TARGET: str = "iOS16"  # the deployment target one function needs (several are iOS 18 whatever this says)


# From the registry's encoder Core ML variants: float32, float16; int8 (int8 weights, float16
# compute: weight-only quantization is all Core ML does without calibration data on macOS, as
# activation quantization needs predict()); palettize6 / palettize4 (6- / 4-bit lookup tables).
# int8-int4emb: int8's recipe with the word-embedding table int4 in blocks of a row, iOS 18.
RECIPES: dict[str, CoreMLVariant] = {
    v.name: CoreMLVariant(v.name, v.precision, v.quantization, v.bits, ("linear", "gather") if v.quantization else (),
                          v.embedding_bits, v.coreml_target or "iOS16")
    for v in _v.variants(_v.COREML, _v.ENCODER)
}


def package_size(path: Path) -> int:
    """Bytes of every file inside an ``.mlpackage`` directory."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def convert_coreml(
    model_dir: Path,
    out_dir: Path,
    *,
    task: str,
    sequence_length: int,
    pooling: str = "mean",
    normalize: bool = True,
    variants: list[str] | None = None,
    metadata: dict | None = None,
    weight_threshold: int = DEFAULT_WEIGHT_THRESHOLD,
    output_stem: str = "model",
    timings: dict[str, float] | None = None,
    length_buckets: Sequence[int] | None = None,
) -> dict[str, Path]:
    """Write ``{output_stem}_{variant}.mlpackage`` (the registry's file name: ``-`` becomes ``_``)
    into ``out_dir`` for each variant; return their paths.

    ``metadata``: ``author``/``short_description``/``version``/``license`` go to the standard
    fields; every other key becomes ``mobilekit.<key>`` (strings as-is, anything else as JSON).
    ``task``, ``sequence_length`` and ``variant`` are always written. ``weight_threshold``: weight
    tensors with at most this many elements stay uncompressed. ``timings``, when given, receives
    the seconds each variant took (tracing and the shared float16 conversion included in the first
    variant that needed them). ``length_buckets`` (ascending, the last ``sequence_length``): more
    than one makes each package a multifunction package with a function per bucket (see the
    module docstring); unset or one bucket, the single-function iOS 16 package.
    """
    from mobilekit.convert.onnx_export import check_model_for_task

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    variants = list(dict.fromkeys(variants or [DEFAULT_VARIANT]))  # keep order, drop repeats
    unknown = [v for v in variants if v not in RECIPES]
    if unknown:
        raise ModelInputError(f"unknown Core ML variant(s) {', '.join(map(repr, unknown))}",
                              hint=f"use any of: {', '.join(VARIANTS)}")
    buckets = _checked_buckets(length_buckets, sequence_length)
    check_model_for_task(model_dir, task=task, pooling=pooling, sequence_length=sequence_length)
    user_metadata = _user_metadata(metadata or {}, task=task, sequence_length=sequence_length, buckets=buckets)

    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    programs = _FloatPrograms(model_dir, task=task, pooling=pooling, normalize=normalize, buckets=buckets)
    written: dict[str, Path] = {}
    try:
        for variant in variants:
            recipe = RECIPES[variant]
            target = programs.target_for(recipe)
            models = {length: _compress(mlmodel, recipe, weight_threshold, int8_rows=programs.int8_rows)
                      for length, mlmodel in programs.get(recipe.PRECISION, target).items()}
            path = out_dir / _v.get(_v.COREML, variant).file_name_for(output_stem)
            _save_variant(models, path, metadata or {}, {**user_metadata, **_variant_metadata(recipe, target)})
            written[variant] = path
            if timings is not None:
                timings[variant] = time.monotonic() - start
            start = time.monotonic()
    except BaseException:
        for path in written.values():
            shutil.rmtree(path, ignore_errors=True)
        raise
    return written


def _variant_metadata(recipe: CoreMLVariant, target: str) -> dict:
    """The package's own entries; ``deployment_target`` whenever it is iOS 18 (always with buckets)."""
    meta = {"variant": recipe.NAME, "compute_precision": recipe.PRECISION,
            "weight_compression": recipe.COMPRESSION or "none"}
    if recipe.EMBEDDING_BITS:
        meta["embedding_table_bits"] = recipe.EMBEDDING_BITS
    if target != "iOS16":
        meta["deployment_target"] = target
    return meta


def _checked_buckets(length_buckets: Sequence[int] | None, sequence_length: int) -> tuple[int, ...]:
    from mobilekit.buckets import problem

    buckets = tuple(length_buckets) if length_buckets else (sequence_length,)
    trouble = problem(buckets, sequence_length)
    if trouble:
        raise ModelInputError(f"length_buckets {list(buckets)}: {trouble}",
                              hint=f"e.g. [16, 32, {sequence_length}], or leave model.length_buckets unset")
    return buckets


class _FloatPrograms:
    """The uncompressed ``MLModel`` of every bucket per compute precision, made on first use (the
    model is loaded once, and traced once per bucket for all precisions)."""

    def __init__(self, model_dir: Path, *, task: str, pooling: str, normalize: bool, buckets: tuple[int, ...]):
        from mobilekit.compress.embedding_table import INT8_ROWS, EmbeddingTable
        from mobilekit.convert.onnx_export import _load_wrapper, output_name_for

        self.model_dir, self.buckets = model_dir, buckets
        # int8 rows: iOS 16's gather takes no int8 table, but Core ML's own per-channel int8
        # compression of the dense table's gather stores exactly the same rows and scales.
        table = EmbeddingTable.load(model_dir)
        self.int8_rows = table is not None and table.method == INT8_ROWS
        self.wrapper, info = _load_wrapper(model_dir, task=task, pooling=pooling, normalize=normalize,
                                           attach_table=not self.int8_rows)
        self.input_names, self.output_name = list(info.input_names), output_name_for(task)
        self._traced: dict[int, Any] = {}
        self._converted: dict[tuple[str, str], dict[int, Any]] = {}

    def target_for(self, recipe: CoreMLVariant) -> str:
        """Several buckets make a multifunction package (iOS 18): its functions must be iOS 18
        programs too (the merge reloads them as such; iOS 16 compression ops differ). One bucket
        targets what the variant needs (int4 storage: iOS 18), else iOS 16."""
        return "iOS18" if len(self.buckets) > 1 else recipe.TARGET

    def get(self, precision: str, target: str) -> dict[int, Any]:
        if (precision, target) not in self._converted:
            for length in self.buckets:
                if length not in self._traced:
                    self._traced[length] = _trace(self.wrapper, self.input_names, length, self.model_dir)
            self._converted[(precision, target)] = {
                length: _convert_traced(self._traced[length], self.input_names, self.output_name, length, precision,
                                        target=target)
                for length in self.buckets}
        return self._converted[(precision, target)]


def _save_variant(models: dict[int, Any], path: Path, metadata: dict, user: dict) -> None:
    """One bucket: the ``MLModel`` with its metadata. Several: one function per bucket, merged."""
    import tempfile

    from mobilekit.buckets import coreml_function_name
    from mobilekit.convert.coreml_functions import save_multifunction, write_package_metadata

    if len(models) == 1:
        (mlmodel,) = models.values()
        _apply_metadata(mlmodel, metadata, user)
        _save_atomically(mlmodel, path)
        return
    with tempfile.TemporaryDirectory(prefix="mobilekit-coreml-buckets-") as scratch:
        save_multifunction({coreml_function_name(length): m for length, m in models.items()}, Path(scratch), path,
                           default=coreml_function_name(max(models)))
    write_package_metadata(path, metadata, user)


# --- tracing and conversion -------------------------------------------------------------------


def _example_inputs(input_names: list[str], sequence_length: int):
    """Batch 1 with padding in the second half, so the traced graph materializes the mask."""
    import torch

    used = max(2, sequence_length // 2)
    ids = torch.zeros((1, sequence_length), dtype=torch.int32)
    ids[0, 0], ids[0, 1:used - 1], ids[0, used - 1] = 2, 5, 3
    mask = torch.zeros((1, sequence_length), dtype=torch.int32)
    mask[0, :used] = 1
    values = {"input_ids": ids, "attention_mask": mask,
              "token_type_ids": torch.zeros((1, sequence_length), dtype=torch.int32)}
    return tuple(values[n] for n in input_names)


def _trace(wrapper, input_names: list[str], sequence_length: int, model_dir: Path):
    import torch

    try:
        with torch.no_grad():
            return torch.jit.trace(wrapper, _example_inputs(input_names, sequence_length), strict=False)
    except Exception as e:  # torch.jit raises many unrelated types
        raise ConversionError(f"torch.jit.trace failed for {model_dir}: {type(e).__name__}: {e}",
                              hint="Core ML conversion needs a traceable model (no data-dependent Python control flow)") from e


_OP_IN_MESSAGE = re.compile(r"op '([\w.:]+)'")


def _convert_traced(traced, input_names: list[str], output_name: str, sequence_length: int, precision: str, *,
                    target: str = "iOS16"):
    import numpy as np

    import coremltools as ct

    _register_missing_torch_ops()
    pipeline = ct.PassPipeline.DEFAULT
    if precision == "float16":
        pipeline.append_pass(_register_saturate_pass())
    try:
        return ct.convert(
            traced,
            inputs=[ct.TensorType(name=n, shape=(1, sequence_length), dtype=np.int32) for n in input_names],
            outputs=[ct.TensorType(name=output_name, dtype=np.float32)],
            convert_to="mlprogram",
            minimum_deployment_target=getattr(ct.target, target),
            compute_precision=ct.precision.FLOAT16 if precision == "float16" else ct.precision.FLOAT32,
            pass_pipeline=pipeline,
        )
    except Exception as e:  # coremltools raises NotImplementedError, ValueError, RuntimeError, ...
        raise _conversion_error(e, precision) from e


def _conversion_error(e: Exception, what: str) -> ConversionError:
    message = str(e)
    match = _OP_IN_MESSAGE.search(message)
    if match:
        op = match.group(1)
        return ConversionError(
            f"coremltools cannot convert the torch op {op!r} ({what}): {message}",
            hint=f"register a converter for {op!r} with coremltools' register_torch_op, or change the "
                 "model so the traced graph avoids it (see shared/toolchains.md for known gaps)",
        )
    return ConversionError(f"coremltools conversion failed ({what}): {type(e).__name__}: {message}",
                           hint="run with a supported torch/coremltools pair (coremltools 9.0 is tested up to torch 2.7)")


def _register_missing_torch_ops() -> None:
    """Add converters coremltools 9.0 lacks for ops transformers' traced BERT graphs use."""
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY, register_torch_op

    if "new_ones" not in _TORCH_OPS_REGISTRY:
        register_torch_op(_convert_new_ones)


def _convert_new_ones(context, node):
    """``aten::new_ones(self, size, dtype, layout, device, pin_memory)``: ones of ``size``.

    Named ``new_ones`` by the registry through ``__name__`` below. The dtype is the requested one,
    else ``self``'s; Core ML has no int64, so integers become int32 (as coremltools' ``full`` does).
    """
    import numpy as np

    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs
    from coremltools.converters.mil.frontend.torch.utils import NUM_TO_NUMPY_DTYPE
    from coremltools.converters.mil.mil import types

    inputs = _get_inputs(context, node, min_expected=2)
    x, size = inputs[0], inputs[1]
    dtype_var = inputs[2] if len(inputs) > 2 else None
    if dtype_var is not None and dtype_var.val is not None:
        np_dtype = NUM_TO_NUMPY_DTYPE[int(dtype_var.val)]
    else:
        np_dtype = types.nptype_from_builtin(x.dtype)
    if np.issubdtype(np_dtype, np.integer):
        np_dtype = np.int32
    if not isinstance(size, list) and size.val is not None:
        shape = [int(s) for s in np.asarray(size.val).reshape(-1)]
        context.add(mb.const(val=np.ones(shape, dtype=np_dtype), name=node.name))
        return
    if isinstance(size, list):
        size = mb.concat(values=size, axis=0)
    one = True if np_dtype == np.bool_ else np_dtype(1)
    context.add(mb.fill(shape=size, value=one, name=node.name))


_convert_new_ones.__name__ = "new_ones"

_SATURATE_PASS = "mobilekit::saturate_fp16_constants"


def _register_saturate_pass() -> str:
    from coremltools.converters.mil.mil.passes.pass_registry import PASS_REGISTRY, register_pass

    if _SATURATE_PASS not in PASS_REGISTRY:
        register_pass(namespace="mobilekit", name="saturate_fp16_constants")(_saturate_pass_class())
    return _SATURATE_PASS


def _saturate_pass_class():
    import numpy as np

    from coremltools.converters.mil.mil import Builder as mb
    from coremltools.converters.mil.mil.passes.graph_pass import AbstractGraphPass

    class _SaturateFloat16Constants(AbstractGraphPass):
        """Replace +-inf in float16 constants by +-65504 (the float16 range), as a saturating cast would.

        Masking still works (exp(-65504 - x) is 0 in every precision), and no infinity reaches
        the device or the palettizer's k-means.
        """

        def apply(self, prog):
            for function in prog.functions.values():
                self._apply_block(function)

        def _apply_block(self, block):
            for op in list(block.operations):
                for inner in op.blocks:
                    self._apply_block(inner)
                if op.op_type != "const":
                    continue
                val = op.outputs[0].val
                if not isinstance(val, (np.ndarray, np.generic)) or val.dtype != np.float16:
                    continue
                if not np.isinf(val).any():
                    continue
                fixed = np.clip(np.asarray(val, dtype=np.float32), -FLOAT16_MAX, FLOAT16_MAX).astype(np.float16)
                with block:
                    new = mb.const(val=fixed.reshape(np.shape(val)), before_op=op, name=op.outputs[0].name + "_saturated")
                block.replace_uses_of_var_after_op(anchor_op=op, old_var=op.outputs[0], new_var=new)
                block.remove_ops([op])

    return _SaturateFloat16Constants


def _compress(mlmodel, recipe: CoreMLVariant, weight_threshold: int, *, int8_rows: bool = False):
    """``recipe``'s weight compression; ``int8_rows``: a model whose embedding table is int8 rows
    (``compress.embedding_table``) gets its gather weights per-row int8 in the float variants too."""
    import coremltools.optimize.coreml as cto

    if recipe.COMPRESSION is None:
        if not int8_rows:
            return mlmodel
        rows = cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", granularity="per_channel",
                                           weight_threshold=DEFAULT_WEIGHT_THRESHOLD)
        return cto.linear_quantize_weights(mlmodel, config=cto.OptimizationConfig(op_type_configs={"gather": rows}))

    if recipe.COMPRESSION == _v.INT8:
        op_config = cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", granularity="per_channel",
                                                weight_threshold=weight_threshold)
        compress = cto.linear_quantize_weights
    else:
        # iOS 16 programs only know one lookup table per tensor (per_tensor granularity).
        op_config = cto.OpPalettizerConfig(mode="kmeans", nbits=recipe.NBITS, granularity="per_tensor",
                                           weight_threshold=weight_threshold)
        compress = cto.palettize_weights
    by_name = _int4_table_config(mlmodel) if recipe.EMBEDDING_BITS == 4 else None
    config = cto.OptimizationConfig(op_type_configs={op_type: op_config for op_type in recipe.OP_TYPES},
                                    op_name_configs=by_name)
    try:
        compressed = compress(mlmodel, config=config)
    except Exception as e:
        raise ConversionError(f"Core ML weight compression {recipe.NAME!r} failed: {type(e).__name__}: {e}",
                              hint="palettization needs scikit-learn; try the int8 or float16 variant") from e
    if by_name:
        _check_int4_table(compressed)
    return compressed


def _int4_table_config(mlmodel) -> dict:
    """{word-embedding table constant: its int4 config}: symmetric int4 in blocks of a row
    (``embedding_int4.block_size``; per row when no block size divides it), whatever its size. A
    const op's own name config wins over its consumer's op-type config in coremltools."""
    import coremltools.optimize.coreml as cto

    from mobilekit.convert.embedding_int4 import block_size

    table = word_table_constant(mlmodel._mil_program)  # noqa: SLF001 - the converted program, before saving
    if table is None:
        raise ConversionError("the Core ML program gathers from no constant table, so there is no "
                              "word-embedding table to store int4", hint="convert the int8 variant instead")
    block = block_size(int(table.outputs[0].shape[-1]))
    granularity = {"granularity": "per_block", "block_size": block} if block else {"granularity": "per_channel"}
    return {table.name: cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int4", weight_threshold=0,
                                                    **granularity)}


def _check_int4_table(mlmodel) -> None:
    """coremltools skips a weight it cannot compress as configured with a log line only: make sure
    one constexpr_blockwise_shift_scale holds int4 data (the table)."""
    from coremltools.converters.mil.mil import types

    int4 = [op for function in mlmodel._mil_program.functions.values() for op in function.operations  # noqa: SLF001
            if op.op_type == "constexpr_blockwise_shift_scale" and types.builtin_to_string(op.data.dtype) == "int4"]
    if not int4:
        raise ConversionError("coremltools left the word-embedding table uncompressed instead of int4",
                              hint="see the coremltools log lines above; the int8 variant is the alternative")


def word_table_constant(program):
    """The const op of the largest float table a ``gather`` reads (the word embeddings), or None."""
    import numpy as np

    tables = [op.x.op for function in program.functions.values() for op in function.operations
              if op.op_type == "gather" and op.x.op is not None and op.x.op.op_type == "const"
              and np.issubdtype(np.asarray(op.x.val).dtype, np.floating)]
    return max(tables, key=lambda const: np.asarray(const.outputs[0].val).size, default=None)


# --- metadata ---------------------------------------------------------------------------------


def _user_metadata(metadata: dict, *, task: str, sequence_length: int, buckets: tuple[int, ...]) -> dict:
    import mobilekit
    from mobilekit.buckets import coreml_functions
    from mobilekit.convert.coreml_functions import DEPLOYMENT_TARGET

    fixed = {"task": task, "sequence_length": sequence_length}
    if len(buckets) > 1:  # absent for one bucket: the metadata of before
        fixed.update(length_buckets=list(buckets), deployment_target=DEPLOYMENT_TARGET,
                     functions={str(length): name for length, name in coreml_functions(buckets).items()})
    for key, value in fixed.items():
        if key in metadata and metadata[key] != value:
            raise ModelInputError(f"metadata[{key!r}] = {metadata[key]!r} contradicts the conversion's {key} {value!r}")
    user = {k: v for k, v in metadata.items() if k not in STANDARD_METADATA}
    user.setdefault("mobilekit_version", mobilekit.__version__)
    return {**user, **fixed}


def _apply_metadata(mlmodel, metadata: dict, user: dict) -> None:
    for key, attribute in STANDARD_METADATA.items():
        if metadata.get(key) is not None:
            setattr(mlmodel, attribute, str(metadata[key]))
    json_fields = []
    for key, value in user.items():
        if value is None:
            continue
        if isinstance(value, str):
            text = value
        else:
            text = json.dumps(value, sort_keys=True, ensure_ascii=False)
            json_fields.append(key)
        mlmodel.user_defined_metadata[METADATA_PREFIX + key] = text
    # Self-describing: which values a reader must JSON-decode (strings are stored as they are).
    mlmodel.user_defined_metadata[METADATA_PREFIX + "json_fields"] = json.dumps(sorted(json_fields))


def read_coreml_metadata(path: Path) -> dict:
    """The metadata of an ``.mlpackage``/``.mlmodel``: the standard fields, plus the ``mobilekit.*``
    values decoded, under ``"mobilekit"``; other user-defined entries (coremltools' own) under
    ``"user_defined"``.
    """
    from mobilekit.mil.package import load_model_spec

    spec = load_model_spec(Path(path))
    meta = spec.description.metadata
    user_defined = dict(meta.userDefined)
    json_fields = set(json.loads(user_defined.get(METADATA_PREFIX + "json_fields", "[]")))
    ours = {}
    for key, text in user_defined.items():
        if not key.startswith(METADATA_PREFIX) or key == METADATA_PREFIX + "json_fields":
            continue
        name = key[len(METADATA_PREFIX):]
        ours[name] = json.loads(text) if name in json_fields else text
    return {
        "author": meta.author,
        "short_description": meta.shortDescription,
        "version": meta.versionString,
        "license": meta.license,
        "inputs": [i.name for i in spec.description.input],
        "outputs": [o.name for o in spec.description.output],
        "mobilekit": ours,
        "user_defined": {k: v for k, v in user_defined.items() if not k.startswith(METADATA_PREFIX)},
    }


def _save_atomically(mlmodel, path: Path) -> None:
    write_package_atomically(path, lambda tmp: mlmodel.save(str(tmp)))


def write_package_atomically(path: Path, write) -> None:
    """``write(tmp)`` builds the package beside ``path``; it replaces ``path`` only when complete."""
    tmp = path.with_name(path.stem + ".partial" + path.suffix)  # coremltools wants the suffix
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write(tmp)
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
    except Exception as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ConversionError(f"cannot write {path}: {type(e).__name__}: {e}") from e

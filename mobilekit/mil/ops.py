"""NumPy implementations of the MIL ops that BERT-family ML programs use.

Each op is registered with the parameters it understands; the interpreter refuses an op that
is not registered, and a parameter or mode an implementation does not know, with
``UnsupportedMilOp`` (never a silent pass: a wrong reference is worse than none).

Numeric semantics (the interpreter's contract, see ``interpreter.py``): an op computes from its
inputs with float16 values widened to float32, and the interpreter rounds every result to the
dtype the program declares for it. So a float16 program has every intermediate tensor rounded
to float16, as Core ML stores it, while sums inside one op (matmul, softmax, layer_norm)
accumulate in float32 like the Neural Engine and GPU do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from mobilekit.errors import VerificationError


class UnsupportedMilOp(VerificationError):
    """The MIL interpreter meets an op, a parameter or a mode it does not implement."""

    def __init__(self, message: str, *, op_type: str, hint: str | None = None):
        super().__init__(message, hint=hint or "extend mobilekit/mil/ops.py with this op (and a test in tests/coreml)")
        self.op_type = op_type


@dataclass(frozen=True)
class OpDef:
    name: str
    fn: Callable[..., Any]
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    variadic: frozenset[str] = field(default_factory=frozenset)  # parameters that take a list of values

    @property
    def params(self) -> frozenset[str]:
        return frozenset(self.required) | frozenset(self.optional)


OPS: dict[str, OpDef] = {}


def mil_op(*names: str, required: tuple[str, ...] = ("x",), optional: tuple[str, ...] = (),
           variadic: tuple[str, ...] = ()):
    def register(fn):
        for name in names:
            if name in OPS:
                raise RuntimeError(f"MIL op {name} registered twice")
            OPS[name] = OpDef(name, fn, tuple(required), tuple(optional), frozenset(variadic))
        return fn
    return register


def supported_ops() -> list[str]:
    return sorted(OPS)


def _np():
    import numpy as np

    return np


def wide(x):
    """float16 -> float32 for computing; everything else unchanged."""
    np = _np()
    x = np.asarray(x)
    return x.astype(np.float32) if x.dtype == np.float16 else x


def _int(v) -> int:
    return int(_np().asarray(v).reshape(()))


def _ints(v) -> list[int]:
    return [int(i) for i in _np().asarray(v).reshape(-1)]


def _bool(v) -> bool:
    return bool(_np().asarray(v).reshape(()))


def _axis(axis: int, rank: int, op: str) -> int:
    if not -rank <= axis < max(rank, 1):
        raise UnsupportedMilOp(f"{op}: axis {axis} out of range for rank {rank}", op_type=op)
    return axis % max(rank, 1)


# --- constants --------------------------------------------------------------------------------

@mil_op("const", required=("val",))
def const(val):
    return val


@mil_op("identity")
def identity(x):
    return x


# --- elementwise binary (NumPy broadcasting is MIL's) ------------------------------------------

def _binary(fn):
    def run(x, y):
        return fn(wide(x), wide(y))
    return run


_BINARY = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "real_div": lambda x, y: _np().true_divide(x, y),
    "floor_div": lambda x, y: _np().floor_divide(x, y),
    "mod": lambda x, y: _np().mod(x, y),
    "pow": lambda x, y: _np().power(x, y),
    "maximum": lambda x, y: _np().maximum(x, y),
    "minimum": lambda x, y: _np().minimum(x, y),
    "equal": lambda x, y: x == y,
    "not_equal": lambda x, y: x != y,
    "less": lambda x, y: x < y,
    "less_equal": lambda x, y: x <= y,
    "greater": lambda x, y: x > y,
    "greater_equal": lambda x, y: x >= y,
    "logical_and": lambda x, y: _np().logical_and(x, y),
    "logical_or": lambda x, y: _np().logical_or(x, y),
    "logical_xor": lambda x, y: _np().logical_xor(x, y),
}
for _name, _fn in _BINARY.items():
    mil_op(_name, required=("x", "y"))(_binary(_fn))


# --- elementwise unary ------------------------------------------------------------------------

def _erf(x):
    np = _np()
    try:
        from scipy.special import erf
    except ImportError:  # pragma: no cover - scipy comes with scikit-learn, which palettization needs
        return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)
    return erf(x)


_UNARY = {
    "abs": lambda x: _np().abs(x),
    "acos": lambda x: _np().arccos(x),
    "asin": lambda x: _np().arcsin(x),
    "atan": lambda x: _np().arctan(x),
    "atanh": lambda x: _np().arctanh(x),
    "ceil": lambda x: _np().ceil(x),
    "cos": lambda x: _np().cos(x),
    "cosh": lambda x: _np().cosh(x),
    "erf": _erf,
    "exp": lambda x: _np().exp(x),
    "exp2": lambda x: _np().exp2(x),
    "floor": lambda x: _np().floor(x),
    "logical_not": lambda x: _np().logical_not(x),
    "sign": lambda x: _np().sign(x),
    "sin": lambda x: _np().sin(x),
    "sinh": lambda x: _np().sinh(x),
    "sqrt": lambda x: _np().sqrt(x),
    "square": lambda x: x * x,
    "tan": lambda x: _np().tan(x),
    "tanh": lambda x: _np().tanh(x),
    "relu": lambda x: _np().maximum(x, 0),
    "sigmoid": lambda x: 1 / (1 + _np().exp(-x)),
    "silu": lambda x: x / (1 + _np().exp(-x)),
}
for _name, _fn in _UNARY.items():
    mil_op(_name)((lambda fn: lambda x: fn(wide(x)))(_fn))


@mil_op("rsqrt", optional=("epsilon",))
def rsqrt(x, epsilon=1e-12):
    return 1 / _np().sqrt(wide(x) + wide(epsilon))


@mil_op("inverse", optional=("epsilon",))
def inverse(x, epsilon=1e-4):
    return 1 / (wide(x) + wide(epsilon))


@mil_op("log", optional=("epsilon",))
def log(x, epsilon=1e-45):
    return _np().log(wide(x) + wide(epsilon))


@mil_op("clip", required=("x", "alpha", "beta"))
def clip(x, alpha, beta):
    np = _np()
    return np.minimum(np.maximum(wide(x), wide(alpha)), wide(beta))


@mil_op("threshold", required=("x", "alpha"))
def threshold(x, alpha):
    return _np().maximum(wide(x), wide(alpha))


@mil_op("gelu", optional=("mode",))
def gelu(x, mode="EXACT"):
    np = _np()
    x = wide(x)
    if mode == "EXACT":
        return 0.5 * x * (1 + _erf(x / np.float32(math.sqrt(2.0))))
    if mode == "TANH_APPROXIMATION":
        return 0.5 * x * (1 + np.tanh(np.float32(math.sqrt(2 / math.pi)) * (x + np.float32(0.044715) * x ** 3)))
    if mode == "SIGMOID_APPROXIMATION":
        return x / (1 + np.exp(np.float32(-1.702) * x))
    raise UnsupportedMilOp(f"gelu: mode {mode!r} is not implemented", op_type="gelu")


@mil_op("softmax", optional=("axis",))
def softmax(x, axis=-1):
    np = _np()
    x = wide(x)
    axis = _int(axis)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


@mil_op("cast", required=("x", "dtype"))
def cast(x, dtype):
    np = _np()
    targets = {"fp16": np.float16, "fp32": np.float32, "fp64": np.float64, "int32": np.int32,
               "int16": np.int16, "int8": np.int8, "uint8": np.uint8, "uint16": np.uint16, "bool": np.bool_}
    if dtype not in targets:
        raise UnsupportedMilOp(f"cast: target dtype {dtype!r} is not implemented", op_type="cast")
    return np.asarray(x).astype(targets[dtype])


# --- reductions -------------------------------------------------------------------------------

def _reduce(fn):
    def run(x, axes=None, keep_dims=False):
        np = _np()
        x = wide(x)
        ax = None if axes is None else tuple(_ints(axes))
        if ax is not None and len(ax) == 0:
            ax = None
        return np.asarray(fn(x, ax, _bool(keep_dims)))
    return run


_REDUCE = {
    "reduce_sum": lambda x, a, k: _np().sum(x, axis=a, keepdims=k),
    "reduce_mean": lambda x, a, k: _np().mean(x, axis=a, keepdims=k),
    "reduce_max": lambda x, a, k: _np().max(x, axis=a, keepdims=k),
    "reduce_min": lambda x, a, k: _np().min(x, axis=a, keepdims=k),
    "reduce_prod": lambda x, a, k: _np().prod(x, axis=a, keepdims=k),
    "reduce_sum_square": lambda x, a, k: _np().sum(x * x, axis=a, keepdims=k),
    "reduce_l1_norm": lambda x, a, k: _np().sum(_np().abs(x), axis=a, keepdims=k),
    "reduce_l2_norm": lambda x, a, k: _np().sqrt(_np().sum(x * x, axis=a, keepdims=k)),
    "reduce_log_sum": lambda x, a, k: _np().log(_np().sum(x, axis=a, keepdims=k)),
    "reduce_log_sum_exp": lambda x, a, k: _log_sum_exp(x, a, k),
}


def _log_sum_exp(x, axes, keep_dims):
    np = _np()
    m = np.max(x, axis=axes, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
    return out if keep_dims else np.squeeze(out, axis=axes)


for _name, _fn in _REDUCE.items():
    mil_op(_name, optional=("axes", "keep_dims"))(_reduce(_fn))


def _arg_reduce(fn):
    def run(x, axis=-1, keep_dims=False):
        np = _np()
        out = fn(wide(x), axis=_int(axis))
        if _bool(keep_dims):
            out = np.expand_dims(out, _int(axis))
        return out.astype(np.int32)
    return run


mil_op("reduce_argmax", optional=("axis", "keep_dims"))(_arg_reduce(lambda x, axis: _np().argmax(x, axis=axis)))
mil_op("reduce_argmin", optional=("axis", "keep_dims"))(_arg_reduce(lambda x, axis: _np().argmin(x, axis=axis)))


# --- linear algebra and normalization ---------------------------------------------------------

@mil_op("matmul", required=("x", "y"), optional=("transpose_x", "transpose_y"))
def matmul(x, y, transpose_x=False, transpose_y=False):
    np = _np()
    x, y = wide(x), wide(y)
    if _bool(transpose_x) and x.ndim >= 2:
        x = np.swapaxes(x, -1, -2)
    if _bool(transpose_y) and y.ndim >= 2:
        y = np.swapaxes(y, -1, -2)
    return np.matmul(x, y)


@mil_op("linear", required=("x", "weight"), optional=("bias",))
def linear(x, weight, bias=None):
    np = _np()
    out = np.matmul(wide(x), wide(weight).T)
    return out if bias is None else out + wide(bias)


@mil_op("layer_norm", optional=("axes", "gamma", "beta", "epsilon"))
def layer_norm(x, axes=None, gamma=None, beta=None, epsilon=1e-5):
    np = _np()
    x = wide(x)
    axes = tuple(range(x.ndim)) if axes is None else tuple(a % x.ndim for a in _ints(axes))
    mean = np.mean(x, axis=axes, keepdims=True)
    var = np.mean((x - mean) ** 2, axis=axes, keepdims=True)
    out = (x - mean) / np.sqrt(var + wide(epsilon))
    # gamma/beta have the shape of the normalized axes, which are the trailing ones.
    if gamma is not None:
        out = out * wide(gamma)
    if beta is not None:
        out = out + wide(beta)
    return out


@mil_op("l2_norm", optional=("epsilon",))
def l2_norm(x, epsilon=1e-6):
    """Normalized over the last three dimensions (leading ones are batch), as MIL defines it."""
    np = _np()
    x = wide(x)
    if x.ndim < 3:
        raise UnsupportedMilOp(f"l2_norm needs rank >= 3, got {x.ndim}", op_type="l2_norm")
    square_sum = np.sum(x * x, axis=(-3, -2, -1), keepdims=True)
    return x / np.sqrt(square_sum + wide(epsilon))


# --- shape and indexing -----------------------------------------------------------------------

@mil_op("reshape", required=("x", "shape"))
def reshape(x, shape):
    np = _np()
    x = np.asarray(x)
    dims = _ints(shape)
    if len(dims) == x.ndim:  # 0 copies the input's dimension (only when the ranks agree)
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return x.reshape(dims)


@mil_op("transpose", required=("x", "perm"))
def transpose(x, perm):
    return _np().transpose(x, _ints(perm))


@mil_op("expand_dims", required=("x", "axes"))
def expand_dims(x, axes):
    np = _np()
    x = np.asarray(x)
    axes = _ints(axes)
    out_rank = x.ndim + len(axes)
    shape = list(x.shape)
    for axis in sorted(a + out_rank if a < 0 else a for a in axes):
        shape.insert(axis, 1)
    return x.reshape(shape)


@mil_op("squeeze", optional=("axes",))
def squeeze(x, axes=None):
    np = _np()
    x = np.asarray(x)
    if axes is None:
        return np.squeeze(x)
    return np.squeeze(x, axis=tuple(a % x.ndim for a in _ints(axes)))


@mil_op("concat", required=("values", "axis"), optional=("interleave",), variadic=("values",))
def concat(values, axis, interleave=False):
    np = _np()
    if _bool(interleave):
        raise UnsupportedMilOp("concat: interleave=True is not implemented", op_type="concat")
    return np.concatenate([np.asarray(v) for v in values], axis=_int(axis))


@mil_op("stack", required=("values", "axis"), variadic=("values",))
def stack(values, axis):
    np = _np()
    return np.stack([np.asarray(v) for v in values], axis=_int(axis))


@mil_op("split", required=("x", "axis"), optional=("num_splits", "split_sizes"))
def split(x, axis, num_splits=None, split_sizes=None):
    np = _np()
    x = np.asarray(x)
    axis = _int(axis)
    if split_sizes is not None:
        bounds = np.cumsum(_ints(split_sizes))[:-1]
        return tuple(np.split(x, bounds, axis=axis))
    return tuple(np.split(x, _int(num_splits), axis=axis))


@mil_op("tile", required=("x", "reps"))
def tile(x, reps):
    return _np().tile(x, _ints(reps))


@mil_op("shape")
def shape(x):
    np = _np()
    return np.array(np.asarray(x).shape, dtype=np.int32)


@mil_op("fill", required=("shape",), optional=("value",))
def fill(shape, value=0.0):
    np = _np()
    value = np.asarray(value)
    return np.full(_ints(shape), value, dtype=value.dtype)


@mil_op("fill_like", required=("ref_tensor",), optional=("value",))
def fill_like(ref_tensor, value=0.0):
    np = _np()
    value = np.asarray(value)
    return np.full(np.asarray(ref_tensor).shape, value, dtype=value.dtype)


@mil_op("range_1d", required=("end", "start", "step"))
def range_1d(end, start, step):
    np = _np()
    return np.arange(np.asarray(start).item(), np.asarray(end).item(), np.asarray(step).item())


@mil_op("select", required=("cond", "a", "b"))
def select(cond, a, b):
    np = _np()
    return np.where(np.asarray(cond).astype(bool), wide(a), wide(b))


def _check_indices(indices, size: int, op: str):
    np = _np()
    indices = np.asarray(indices).astype(np.int64)
    if indices.size and (indices.min() < -size or indices.max() >= size):
        raise UnsupportedMilOp(f"{op}: index out of range [-{size}, {size})", op_type=op,
                               hint="the program indexes past a table: check the inputs (token ids < vocab size)")
    return np.where(indices < 0, indices + size, indices)


@mil_op("gather", required=("x", "indices"), optional=("axis", "batch_dims", "validate_indices"))
def gather(x, indices, axis=0, batch_dims=0, validate_indices=False):
    np = _np()
    x = np.asarray(x)
    axis = _axis(_int(axis), x.ndim, "gather")
    if _int(batch_dims) != 0:
        raise UnsupportedMilOp("gather: batch_dims != 0 is not implemented", op_type="gather")
    return np.take(x, _check_indices(indices, x.shape[axis], "gather"), axis=axis)


@mil_op("gather_along_axis", required=("x", "indices"), optional=("axis", "validate_indices"))
def gather_along_axis(x, indices, axis=0, validate_indices=False):
    np = _np()
    x = np.asarray(x)
    axis = _axis(_int(axis), x.ndim, "gather_along_axis")
    return np.take_along_axis(x, _check_indices(indices, x.shape[axis], "gather_along_axis"), axis=axis)


@mil_op("gather_nd", required=("x", "indices"), optional=("batch_dims", "validate_indices"))
def gather_nd(x, indices, batch_dims=0, validate_indices=False):
    np = _np()
    x = np.asarray(x)
    if _int(batch_dims) != 0:
        raise UnsupportedMilOp("gather_nd: batch_dims != 0 is not implemented", op_type="gather_nd")
    indices = np.asarray(indices).astype(np.int64)
    depth = indices.shape[-1]
    coords = tuple(_check_indices(indices[..., i], x.shape[i], "gather_nd") for i in range(depth))
    return x[coords]


@mil_op("slice_by_index", required=("x", "begin", "end"),
        optional=("stride", "begin_mask", "end_mask", "squeeze_mask"))
def slice_by_index(x, begin, end, stride=None, begin_mask=None, end_mask=None, squeeze_mask=None):
    np = _np()
    x = np.asarray(x)
    rank = x.ndim
    begin, end = _ints(begin), _ints(end)
    stride = _ints(stride) if stride is not None else [1] * rank
    begin_mask = [bool(b) for b in np.asarray(begin_mask).reshape(-1)] if begin_mask is not None else [False] * rank
    end_mask = [bool(b) for b in np.asarray(end_mask).reshape(-1)] if end_mask is not None else [False] * rank
    squeeze_mask = [bool(b) for b in np.asarray(squeeze_mask).reshape(-1)] if squeeze_mask is not None else [False] * rank
    index, squeeze_axes = [], []
    for i in range(rank):
        if squeeze_mask[i]:
            index.append(begin[i] % x.shape[i] if x.shape[i] else 0)
            continue
        b = None if begin_mask[i] else begin[i]
        e = None if end_mask[i] else end[i]
        index.append(slice(b, e, stride[i]))
    return x[tuple(index)]


@mil_op("slice_by_size", required=("x", "begin", "size"))
def slice_by_size(x, begin, size):
    np = _np()
    x = np.asarray(x)
    index = []
    for i, (b, s) in enumerate(zip(_ints(begin), _ints(size))):
        b = b % x.shape[i] if x.shape[i] else 0
        index.append(slice(b, None if s == -1 else b + s))
    return x[tuple(index)]


@mil_op("pad", required=("x", "pad"), optional=("mode", "constant_val"))
def pad(x, pad, mode="constant", constant_val=0.0):
    np = _np()
    if mode != "constant":
        raise UnsupportedMilOp(f"pad: mode {mode!r} is not implemented", op_type="pad")
    x = np.asarray(x)
    amounts = _ints(pad)
    pairs = [(0, 0)] * (x.ndim - len(amounts) // 2) + [(amounts[i], amounts[i + 1]) for i in range(0, len(amounts), 2)]
    return np.pad(x, pairs, mode="constant", constant_values=np.asarray(constant_val).item())


# --- compressed weights (constexpr ops: evaluated once, from attributes) ----------------------

@mil_op("constexpr_affine_dequantize", required=("quantized_data", "zero_point", "scale", "axis"))
def constexpr_affine_dequantize(quantized_data, zero_point, scale, axis):
    np = _np()
    q = np.asarray(quantized_data)
    axis = _int(axis) % q.ndim
    shape = [1] * q.ndim

    def along(v):
        v = np.asarray(v)
        if v.ndim == 0:
            return v
        s = list(shape)
        s[axis] = v.size
        return v.reshape(s)

    scale = np.asarray(scale)
    out = (q.astype(np.float32) - along(zero_point).astype(np.float32)) * along(scale).astype(np.float32)
    return out.astype(scale.dtype)


@mil_op("constexpr_cast", required=("source_val", "output_dtype"))
def constexpr_cast(source_val, output_dtype):
    return cast(source_val, output_dtype)


def _repeat_blocks(v, shape, op: str):
    """Repeat ``v`` (same rank as ``shape``) so that each element covers one block of ``shape``."""
    np = _np()
    v = np.asarray(v)
    if v.ndim != len(shape):
        raise UnsupportedMilOp(f"{op}: parameter rank {v.ndim} differs from data rank {len(shape)}", op_type=op)
    for i, (n, m) in enumerate(zip(shape, v.shape)):
        if m == 0 or n % m:
            raise UnsupportedMilOp(f"{op}: dimension {i} of size {n} is not a multiple of {m}", op_type=op)
        v = np.repeat(v, n // m, axis=i)
    return v


@mil_op("constexpr_blockwise_shift_scale", required=("data", "scale"), optional=("offset",))
def constexpr_blockwise_shift_scale(data, scale, offset=None):
    np = _np()
    data = np.asarray(data)
    scale = np.asarray(scale)
    values = data.astype(np.float32)
    if offset is not None:
        values = values - _repeat_blocks(offset, data.shape, "constexpr_blockwise_shift_scale").astype(np.float32)
    out = values * _repeat_blocks(scale, data.shape, "constexpr_blockwise_shift_scale").astype(np.float32)
    return out.astype(scale.dtype)


@mil_op("constexpr_lut_to_dense", required=("lut", "indices"), optional=("shape", "vector_axis"))
def constexpr_lut_to_dense(lut, indices, shape=None, vector_axis=None):
    np = _np()
    from mobilekit.mil.package import unpack_bits

    lut = np.asarray(lut)
    if shape is not None:
        # iOS 16 form: one 1-D table of 2^nbits entries, indices packed LSB first into uint8.
        if lut.ndim != 1 or lut.size not in (2, 4, 16, 64, 256):
            raise UnsupportedMilOp(f"constexpr_lut_to_dense: iOS16 table of shape {lut.shape}",
                                   op_type="constexpr_lut_to_dense")
        nbits = int(math.log2(lut.size))
        out_shape = _ints(shape)
        count = int(np.prod(out_shape))
        flat = unpack_bits(np.asarray(indices, dtype=np.uint8).tobytes(), nbits, count)
        return lut[flat].reshape(out_shape)
    # iOS 18 form: indices have the output's shape; lut [*blocks, NUM_PALETTES, VECTOR_SIZE].
    indices = np.asarray(indices).astype(np.int64)
    if vector_axis is not None or lut.ndim != indices.ndim + 2 or lut.shape[-1] != 1:
        raise UnsupportedMilOp("constexpr_lut_to_dense: vector palettization is not implemented",
                               op_type="constexpr_lut_to_dense")
    table = lut[..., 0]  # [*blocks, NUM_PALETTES]
    for i, (n, m) in enumerate(zip(indices.shape, table.shape[:-1])):
        table = np.repeat(table, n // m, axis=i)
    return np.take_along_axis(table, indices[..., None], axis=-1)[..., 0]

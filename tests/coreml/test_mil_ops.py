"""The interpreter's ops one by one, against NumPy/torch references.

Each test builds a one-op MIL program with coremltools' builder and serializes it with
coremltools' own MIL-proto backend (no graph passes, so the op is not folded or rewritten),
then runs the serialized spec: what is tested is exactly what the interpreter reads from a
saved package.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mobilekit.mil import MilProgram, UnsupportedMilOp

RNG = np.random.default_rng(0)


def _placeholder_dtype(array):
    from coremltools.converters.mil.mil import types

    return {np.dtype("float32"): types.fp32, np.dtype("float16"): types.fp16, np.dtype("int32"): types.int32}[array.dtype]


def build(fn, tmp_path: Path, **inputs) -> MilProgram:
    """A MIL program whose inputs are ``inputs`` (runtime values, so nothing folds) and whose
    body is ``fn(**placeholders)``."""
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.backend.mil.load import load
    from coremltools.converters.mil.mil import Function, Program

    placeholders = {n: mb.placeholder(shape=v.shape, dtype=_placeholder_dtype(v)) for n, v in inputs.items()}
    with Function(placeholders, opset_version=ct.target.iOS16) as function:
        out = fn(**function.inputs)
        function.set_outputs(list(out) if isinstance(out, (list, tuple)) else [out])
    program = Program()
    program.add_function("main", function)
    weights = tmp_path / "weights"
    weights.mkdir(exist_ok=True)
    spec = load(program, str(weights), specification_version=ct.target.iOS16.value)
    return MilProgram(spec, weights)


def run(fn, tmp_path, **inputs):
    program = build(fn, tmp_path, **inputs)
    outs = program.run(inputs)
    values = [outs[n] for n in program.output_names]
    return values[0] if len(values) == 1 else values


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def mb():
    from coremltools.converters.mil import Builder

    return Builder


# --- elementwise ------------------------------------------------------------------------------

BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "real_div": np.true_divide,
    "maximum": np.maximum, "minimum": np.minimum, "pow": None, "floor_div": np.floor_divide, "mod": np.mod,
}


@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary_broadcasting(op, tmp_path):
    x, y = f32(2, 1, 4), f32(3, 1) + 3.0  # y > 0 keeps pow/div/mod well defined
    if op == "pow":
        x, reference = np.abs(x), np.power(np.abs(x), y)
    else:
        reference = BINARY[op](x, y)
    out = run(lambda x, y: getattr(mb(), op)(x=x, y=y), tmp_path, x=x, y=y)
    assert out.shape == (2, 3, 4)
    np.testing.assert_allclose(out, reference, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("op,ref", [("equal", np.equal), ("not_equal", np.not_equal), ("less", np.less),
                                    ("less_equal", np.less_equal), ("greater", np.greater),
                                    ("greater_equal", np.greater_equal)])
def test_comparisons(op, ref, tmp_path):
    x = np.array([[1, 2, 3], [3, 2, 1]], dtype=np.int32)
    y = np.array([2, 2, 2], dtype=np.int32)
    m = mb()
    # Core ML programs cannot output bool: the tests cast results to int32.
    out = run(lambda x, y: m.cast(x=getattr(m, op)(x=x, y=y), dtype="int32"), tmp_path, x=x, y=y)
    np.testing.assert_array_equal(out, ref(x, y))


@pytest.mark.parametrize("op,ref", [("logical_and", np.logical_and), ("logical_or", np.logical_or),
                                    ("logical_xor", np.logical_xor)])
def test_logical(op, ref, tmp_path):
    x = np.array([0, 1, 0, 1], dtype=np.int32)
    y = np.array([0, 0, 1, 1], dtype=np.int32)
    m = mb()
    out = run(lambda x, y: m.cast(x=getattr(m, op)(x=m.cast(x=x, dtype="bool"), y=m.cast(x=y, dtype="bool")),
                                  dtype="int32"), tmp_path, x=x, y=y)
    np.testing.assert_array_equal(out, ref(x, y))
    out = run(lambda x: m.cast(x=m.logical_not(x=m.cast(x=x, dtype="bool")), dtype="int32"), tmp_path, x=x)
    np.testing.assert_array_equal(out, np.logical_not(x))


UNARY = {
    "abs": np.abs, "ceil": np.ceil, "cos": np.cos, "exp": np.exp, "exp2": np.exp2, "floor": np.floor,
    "sign": np.sign, "sin": np.sin, "square": np.square, "tanh": np.tanh, "tan": np.tan,
    "relu": lambda x: np.maximum(x, 0), "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "erf": lambda x: torch.erf(torch.from_numpy(x)).numpy(), "sqrt": None, "atan": np.arctan,
    "sinh": np.sinh, "cosh": np.cosh, "silu": lambda x: x / (1 + np.exp(-x)),
}


@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary(op, tmp_path):
    x = f32(3, 5)
    if op == "sqrt":
        x, reference = np.abs(x), np.sqrt(np.abs(x))
    else:
        reference = UNARY[op](x)
    out = run(lambda x: getattr(mb(), op)(x=x), tmp_path, x=x)
    np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-6)


def test_epsilon_ops_use_their_epsilon(tmp_path):
    x = np.abs(f32(4)) + 0.1
    m = mb()
    np.testing.assert_allclose(run(lambda x: m.rsqrt(x=x, epsilon=0.5), tmp_path, x=x), 1 / np.sqrt(x + 0.5), rtol=1e-6)
    np.testing.assert_allclose(run(lambda x: m.rsqrt(x=x), tmp_path, x=x), 1 / np.sqrt(x + 1e-12), rtol=1e-6)
    np.testing.assert_allclose(run(lambda x: m.inverse(x=x), tmp_path, x=x), 1 / (x + 1e-4), rtol=1e-6)
    np.testing.assert_allclose(run(lambda x: m.log(x=x, epsilon=1.0), tmp_path, x=x), np.log(x + 1), rtol=1e-6)


def test_clip_and_threshold(tmp_path):
    x = f32(10)
    m = mb()
    np.testing.assert_array_equal(run(lambda x: m.clip(x=x, alpha=-0.5, beta=0.25), tmp_path, x=x), np.clip(x, -0.5, 0.25))
    np.testing.assert_array_equal(run(lambda x: m.threshold(x=x, alpha=0.1), tmp_path, x=x), np.maximum(x, 0.1))


@pytest.mark.parametrize("mode,approximate", [("EXACT", "none"), ("TANH_APPROXIMATION", "tanh")])
def test_gelu_modes_match_torch(mode, approximate, tmp_path):
    x = f32(4, 8) * 3
    out = run(lambda x: mb().gelu(x=x, mode=mode), tmp_path, x=x)
    reference = torch.nn.functional.gelu(torch.from_numpy(x), approximate=approximate).numpy()
    np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-6)


def test_gelu_sigmoid_mode(tmp_path):
    x = f32(6)
    out = run(lambda x: mb().gelu(x=x, mode="SIGMOID_APPROXIMATION"), tmp_path, x=x)
    np.testing.assert_allclose(out, x / (1 + np.exp(-1.702 * x)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_axis(axis, tmp_path):
    x = f32(3, 4, 5) * 4
    out = run(lambda x: mb().softmax(x=x, axis=axis), tmp_path, x=x)
    np.testing.assert_allclose(out, torch.softmax(torch.from_numpy(x), dim=axis).numpy(), rtol=1e-5, atol=1e-7)


def test_softmax_with_masked_entries(tmp_path):
    x = f32(2, 4)
    x[:, 2] = -65504.0
    out = run(lambda x: mb().softmax(x=x, axis=-1), tmp_path, x=x)
    assert (out[:, 2] == 0).all()
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("dtype,expected", [("int32", np.int32), ("fp16", np.float16), ("fp32", np.float32),
                                            ("bool", np.bool_)])
def test_cast(dtype, expected, tmp_path):
    x = np.array([-2.7, -0.4, 0.0, 0.6, 3.9], dtype=np.float32)
    m = mb()
    if dtype == "bool":  # not a valid program output: observe it through a second cast
        out = run(lambda x: m.cast(x=m.cast(x=x, dtype="bool"), dtype="int32"), tmp_path, x=x)
        np.testing.assert_array_equal(out, x.astype(bool).astype(np.int32))
        return
    out = run(lambda x: m.cast(x=x, dtype=dtype), tmp_path, x=x)
    assert out.dtype == expected
    np.testing.assert_array_equal(out, x.astype(expected))


# --- float16 semantics ------------------------------------------------------------------------

def test_float16_program_rounds_every_result(tmp_path):
    """fp16 in, fp16 out: each op's result is rounded to float16, as Core ML stores it."""
    x = np.array([1.0, 2049.0, 0.1], dtype=np.float32).astype(np.float16)  # 2049 is not a float16
    y = np.array([1e-4, 1.0, 0.2], dtype=np.float16)
    out = run(lambda x, y: mb().add(x=x, y=y), tmp_path, x=x, y=y)
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out, (x.astype(np.float32) + y.astype(np.float32)).astype(np.float16))
    assert out[0] == np.float16(1.0)  # 1 + 0.0001 rounds back to 1 in float16 (spacing ~0.001)


def test_float16_overflow_becomes_inf_like_on_device(tmp_path):
    x = np.array([60000.0, 1.0], dtype=np.float16)
    out = run(lambda x: mb().mul(x=x, y=np.float16(2.0)), tmp_path, x=x)
    assert np.isinf(out[0]) and out[1] == 2


# --- reductions -------------------------------------------------------------------------------

REDUCE = {
    "reduce_sum": np.sum, "reduce_mean": np.mean, "reduce_max": np.max, "reduce_min": np.min,
    "reduce_prod": np.prod, "reduce_sum_square": lambda x, **k: np.sum(x * x, **k),
    "reduce_l2_norm": lambda x, **k: np.sqrt(np.sum(x * x, **k)),
    "reduce_l1_norm": lambda x, **k: np.sum(np.abs(x), **k),
    "reduce_log_sum_exp": lambda x, **k: torch.logsumexp(torch.from_numpy(x), dim=k["axis"], keepdim=k["keepdims"]).numpy(),
}


@pytest.mark.parametrize("op", sorted(REDUCE))
@pytest.mark.parametrize("axes,keep_dims", [([1], False), ([0, 2], True), ([-1], True)])
def test_reductions(op, axes, keep_dims, tmp_path):
    x = f32(2, 3, 4)
    out = run(lambda x: getattr(mb(), op)(x=x, axes=axes, keep_dims=keep_dims), tmp_path, x=x)
    np.testing.assert_allclose(out, REDUCE[op](x, axis=tuple(axes), keepdims=keep_dims), rtol=1e-5, atol=1e-6)


def test_reduce_over_all_axes(tmp_path):
    x = f32(2, 3)
    np.testing.assert_allclose(run(lambda x: mb().reduce_sum(x=x), tmp_path, x=x), x.sum(), rtol=1e-6)


def test_reduce_argmax(tmp_path):
    x = f32(3, 5)
    out = run(lambda x: mb().reduce_argmax(x=x, axis=1, keep_dims=True), tmp_path, x=x)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, x.argmax(axis=1)[:, None])


# --- linear algebra and normalization ---------------------------------------------------------

@pytest.mark.parametrize("tx,ty", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul_transposes_and_broadcasting(tx, ty, tmp_path):
    x = f32(2, 1, 3, 4) if not tx else f32(2, 1, 4, 3)
    y = f32(5, 4, 6) if not ty else f32(5, 6, 4)
    out = run(lambda x, y: mb().matmul(x=x, y=y, transpose_x=tx, transpose_y=ty), tmp_path, x=x, y=y)
    xr = np.swapaxes(x, -1, -2) if tx else x
    yr = np.swapaxes(y, -1, -2) if ty else y
    assert out.shape == (2, 5, 3, 6)
    np.testing.assert_allclose(out, np.matmul(xr, yr), rtol=1e-5, atol=1e-5)


def test_linear_matches_torch(tmp_path):
    x, w, b = f32(2, 5, 8), f32(3, 8), f32(3)
    out = run(lambda x: mb().linear(x=x, weight=w, bias=b), tmp_path, x=x)
    reference = torch.nn.functional.linear(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-5)
    out = run(lambda x: mb().linear(x=x, weight=w), tmp_path, x=x)
    np.testing.assert_allclose(out, x @ w.T, rtol=1e-5, atol=1e-5)


def test_layer_norm_matches_torch(tmp_path):
    x, gamma, beta = f32(2, 3, 8) * 3 + 1, f32(8), f32(8)
    out = run(lambda x: mb().layer_norm(x=x, axes=[-1], gamma=gamma, beta=beta, epsilon=1e-12), tmp_path, x=x)
    reference = torch.nn.functional.layer_norm(torch.from_numpy(x), (8,), torch.from_numpy(gamma),
                                               torch.from_numpy(beta), eps=1e-12).numpy()
    np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-5)


def test_layer_norm_two_axes_without_affine(tmp_path):
    x = f32(2, 3, 4)
    out = run(lambda x: mb().layer_norm(x=x, axes=[1, 2], epsilon=1e-5), tmp_path, x=x)
    reference = torch.nn.functional.layer_norm(torch.from_numpy(x), (3, 4), eps=1e-5).numpy()
    np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-5)


def test_l2_norm_over_last_three_dims(tmp_path):
    x = f32(2, 3, 4, 5)
    out = run(lambda x: mb().l2_norm(x=x, epsilon=1e-6), tmp_path, x=x)
    norms = np.sqrt((x * x).reshape(2, -1).sum(axis=1) + 1e-6)
    np.testing.assert_allclose(out, x / norms[:, None, None, None], rtol=1e-5)


# --- shapes and indexing ----------------------------------------------------------------------

def test_reshape_with_minus_one_and_zero(tmp_path):
    x = f32(2, 3, 4)
    np.testing.assert_array_equal(run(lambda x: mb().reshape(x=x, shape=[2, -1]), tmp_path, x=x), x.reshape(2, 12))
    np.testing.assert_array_equal(run(lambda x: mb().reshape(x=x, shape=[0, 4, 3]), tmp_path, x=x), x.reshape(2, 4, 3))


def test_transpose(tmp_path):
    x = f32(2, 3, 4)
    np.testing.assert_array_equal(run(lambda x: mb().transpose(x=x, perm=[2, 0, 1]), tmp_path, x=x), x.transpose(2, 0, 1))


@pytest.mark.parametrize("axes", [[0], [-1], [1, -1], [0, 3]])
def test_expand_dims(axes, tmp_path):
    x = f32(2, 3)
    out = run(lambda x: mb().expand_dims(x=x, axes=axes), tmp_path, x=x)
    assert out.shape == np.expand_dims(x, tuple(axes)).shape
    np.testing.assert_array_equal(out, np.expand_dims(x, tuple(axes)))


def test_squeeze(tmp_path):
    x = f32(1, 3, 1, 2)
    np.testing.assert_array_equal(run(lambda x: mb().squeeze(x=x, axes=[-2]), tmp_path, x=x), x.squeeze(2))
    np.testing.assert_array_equal(run(lambda x: mb().squeeze(x=x), tmp_path, x=x), x.squeeze())


def test_concat_stack_split_tile(tmp_path):
    x, y = f32(2, 3), f32(2, 1)
    m = mb()
    np.testing.assert_array_equal(run(lambda x, y: m.concat(values=[x, y, x], axis=-1), tmp_path, x=x, y=y),
                                  np.concatenate([x, y, x], axis=-1))
    np.testing.assert_array_equal(run(lambda x: m.stack(values=[x, x], axis=1), tmp_path, x=x), np.stack([x, x], axis=1))
    parts = run(lambda x: m.split(x=x, split_sizes=[1, 2], axis=1), tmp_path, x=x)
    np.testing.assert_array_equal(parts[0], x[:, :1])
    np.testing.assert_array_equal(parts[1], x[:, 1:])
    np.testing.assert_array_equal(run(lambda x: m.tile(x=x, reps=[2, 1]), tmp_path, x=x), np.tile(x, (2, 1)))


def test_shape_fill_fill_like_range(tmp_path):
    x = f32(2, 3)
    m = mb()
    out = run(lambda x: m.shape(x=x), tmp_path, x=x)
    assert out.dtype == np.int32 and out.tolist() == [2, 3]
    np.testing.assert_array_equal(run(lambda x: m.fill(shape=m.shape(x=x), value=1.5), tmp_path, x=x),
                                  np.full((2, 3), 1.5, np.float32))
    np.testing.assert_array_equal(run(lambda x: m.fill_like(ref_tensor=x, value=-2.0), tmp_path, x=x),
                                  np.full((2, 3), -2.0, np.float32))
    n = np.array([7], dtype=np.int32)
    out = run(lambda n: m.range_1d(start=1, end=m.squeeze(x=n), step=2), tmp_path, n=n)
    np.testing.assert_array_equal(out, np.arange(1, 7, 2))


def test_select_broadcasts(tmp_path):
    cond = np.array([[1], [0]], dtype=np.int32)
    a, b = f32(2, 3), f32(3)
    m = mb()
    out = run(lambda c, a, b: m.select(cond=m.cast(x=c, dtype="bool"), a=a, b=b), tmp_path, c=cond, a=a, b=b)
    np.testing.assert_array_equal(out, np.where(cond.astype(bool), a, b))


def test_gather_axis_and_negative_indices(tmp_path):
    x = f32(4, 5)
    idx = np.array([[0, -1], [2, 3]], dtype=np.int32)
    m = mb()
    np.testing.assert_array_equal(run(lambda x, i: m.gather(x=x, indices=i, axis=0), tmp_path, x=x, i=idx),
                                  np.take(x, idx, axis=0))
    np.testing.assert_array_equal(run(lambda x, i: m.gather(x=x, indices=i, axis=1), tmp_path, x=x, i=idx),
                                  np.take(x, idx, axis=1))


def test_gather_out_of_range_is_an_error_not_garbage(tmp_path):
    x = f32(4, 5)
    program = build(lambda x, i: mb().gather(x=x, indices=i, axis=0), tmp_path, x=x, i=np.array([1], np.int32))
    with pytest.raises(UnsupportedMilOp, match="out of range"):
        program.run({"x": x, "i": np.array([4], dtype=np.int32)})


def test_gather_nd_and_along_axis(tmp_path):
    x = f32(3, 4, 2)
    idx = np.array([[0, 1], [2, 3], [1, 0]], dtype=np.int32)
    m = mb()
    np.testing.assert_array_equal(run(lambda x, i: m.gather_nd(x=x, indices=i), tmp_path, x=x, i=idx),
                                  x[idx[:, 0], idx[:, 1]])
    along = np.array([[0], [3], [1]], dtype=np.int32)[:, :, None].repeat(2, axis=2)
    np.testing.assert_array_equal(run(lambda x, i: m.gather_along_axis(x=x, indices=i, axis=1), tmp_path, x=x, i=along),
                                  np.take_along_axis(x, along, axis=1))


def test_slice_by_index_masks_strides_squeeze(tmp_path):
    x = f32(3, 6, 4)
    m = mb()
    out = run(lambda x: m.slice_by_index(x=x, begin=[1, 1, 0], end=[3, 6, 4], stride=[1, 2, 1],
                                         begin_mask=[False, False, True], end_mask=[True, False, True],
                                         squeeze_mask=[False, False, False]), tmp_path, x=x)
    np.testing.assert_array_equal(out, x[1:, 1:6:2, :])
    out = run(lambda x: m.slice_by_index(x=x, begin=[0, 0, -1], end=[3, 6, 0], end_mask=[True, True, False],
                                         squeeze_mask=[False, False, True]), tmp_path, x=x)
    np.testing.assert_array_equal(out, x[:, :, -1])


def test_slice_by_size(tmp_path):
    x = f32(4, 5)
    out = run(lambda x: mb().slice_by_size(x=x, begin=[1, 2], size=[2, -1]), tmp_path, x=x)
    np.testing.assert_array_equal(out, x[1:3, 2:])


def test_pad_constant(tmp_path):
    x = f32(2, 3)
    out = run(lambda x: mb().pad(x=x, pad=[1, 2], mode="constant", constant_val=9.0), tmp_path, x=x)
    np.testing.assert_array_equal(out, np.pad(x, [(0, 0), (1, 2)], constant_values=9.0))


# --- compressed-weight ops (iOS 16 forms, as the converter writes them) ------------------------

def test_constexpr_affine_dequantize(tmp_path):
    q = RNG.integers(-128, 127, size=(4, 6)).astype(np.int8)
    scale = (RNG.random(4) + 0.5).astype(np.float32)
    zero = np.array([0, 1, -2, 3], dtype=np.int8)
    m = mb()

    def body(x):
        w = m.constexpr_affine_dequantize(quantized_data=q, zero_point=zero, scale=scale, axis=0)
        return m.linear(x=x, weight=w)

    x = f32(2, 6)
    weight = (q.astype(np.float32) - zero[:, None]) * scale[:, None]
    np.testing.assert_allclose(run(body, tmp_path, x=x), x @ weight.T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("nbits", [1, 2, 4, 6, 8])
def test_constexpr_lut_to_dense(nbits, tmp_path):
    from coremltools.optimize._utils import pack_elements_into_bits

    lut = RNG.standard_normal(2 ** nbits).astype(np.float32)
    indices = RNG.integers(0, 2 ** nbits, size=(5, 7)).astype(np.uint8)
    packed = pack_elements_into_bits(indices.reshape(-1), nbits) if nbits < 8 else indices.reshape(-1)
    m = mb()

    def body(x):
        w = m.constexpr_lut_to_dense(lut=lut, indices=packed, shape=np.array([5, 7], dtype=np.uint32))
        return m.linear(x=x, weight=w)

    x = f32(1, 7)
    np.testing.assert_allclose(run(body, tmp_path, x=x), x @ lut[indices].T, rtol=1e-5, atol=1e-5)


def test_constexpr_ops_are_evaluated_once_at_load(tmp_path):
    q = np.arange(12, dtype=np.int8).reshape(3, 4)
    m = mb()
    program = build(lambda x: m.linear(x=x, weight=m.constexpr_affine_dequantize(
        quantized_data=q, zero_point=np.int8(0), scale=np.float32(0.5), axis=0)), tmp_path, x=f32(1, 4))
    weights = [v for v in program.constants.values() if getattr(v, "shape", None) == (3, 4)]
    np.testing.assert_array_equal(weights[-1], q * 0.5)


def test_ops_registry_has_no_silent_gaps():
    """Every registered op has an implementation; the list is what the report names."""
    from mobilekit.mil import supported_ops
    from mobilekit.mil.ops import OPS

    ops = supported_ops()
    for needed in ("const", "gather", "gather_nd", "linear", "layer_norm", "softmax", "gelu", "matmul", "select",
                   "logical_and", "slice_by_index", "constexpr_affine_dequantize", "constexpr_lut_to_dense"):
        assert needed in ops
    assert all(callable(OPS[o].fn) for o in ops)

"""Reading packages: the weight-file parser against coremltools' own reader, bit unpacking, and
what happens with programs the interpreter cannot run."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from mobilekit.errors import VerificationError
from mobilekit.mil import MilFormatError, MilProgram, UnsupportedMilOp, list_ops, run_mil_program
from mobilekit.mil.package import DTYPES, WeightFile, dtype_name, load_model_spec, tensor_shape, unpack_bits, weights_dir_of


def _blob_consts(package):
    """(op type, argument, value) of every weight in the weight file: attributes of const and
    iOS 16 constexpr ops, input values of iOS 18 ones (constexpr_blockwise_shift_scale)."""
    spec = load_model_spec(package)
    function = spec.mlProgram.functions["main"]
    for op in function.block_specializations[function.opset].operations:
        for key, value in op.attributes.items():
            if value.WhichOneof("value") == "blobFileValue":
                yield op.type, key, value
        for key, argument in op.inputs.items():
            for binding in argument.arguments:
                if binding.WhichOneof("binding") == "value" and binding.value.WhichOneof("value") == "blobFileValue":
                    yield op.type, key, binding.value


@pytest.mark.slow
def test_weight_file_reader_agrees_with_coremltools(classifier):
    from coremltools.libmilstoragepython import _BlobStorageReader

    read_by = {"FLOAT16": "read_fp16_data", "FLOAT32": "read_float_data", "UINT8": "read_uint8_data",
               "INT8": "read_int8_data", "INT4": "read_int4_data",  # coremltools unpacks int4 to int8
               "UINT16": "read_uint16_data"}  # iOS 18 programs store some index constants as uint16
    seen = set()
    for variant, package in classifier.packages.items():
        path = weights_dir_of(package) / "weight.bin"
        ours, theirs = WeightFile(path), _BlobStorageReader(str(path))
        for op_type, key, value in _blob_consts(package):
            name = dtype_name(value.type.tensorType.dataType)
            shape = tensor_shape(value.type.tensorType)
            got = ours.read(value.blobFileValue.offset, name, shape)
            expected = np.asarray(getattr(theirs, read_by[name])(value.blobFileValue.offset))
            if name == "FLOAT16":
                expected = expected.view(np.float16)
            np.testing.assert_array_equal(got.reshape(-1), expected.reshape(-1), err_msg=f"{variant} {op_type}.{key}")
            seen.add((op_type, name))
    # the compressed variants' payloads were among them
    assert ("constexpr_affine_dequantize", "INT8") in seen
    assert ("constexpr_lut_to_dense", "UINT8") in seen
    assert ("constexpr_blockwise_shift_scale", "INT4") in seen  # int8-int4emb's word table
    assert ("constexpr_blockwise_shift_scale", "INT8") in seen  # ...and its layers


@pytest.mark.parametrize("nbits", [1, 2, 3, 4, 6])
def test_unpack_bits_inverts_coremltools_packing(nbits):
    from coremltools.optimize._utils import pack_elements_into_bits

    values = np.random.default_rng(nbits).integers(0, 2 ** nbits, size=37).astype(np.uint8)
    packed = pack_elements_into_bits(values, nbits)
    np.testing.assert_array_equal(unpack_bits(packed.tobytes(), nbits, values.size), values)


def test_unpack_signed_int4():
    from coremltools.optimize._utils import pack_elements_into_bits

    values = np.array([-8, -1, 0, 3, 7], dtype=np.int8)
    np.testing.assert_array_equal(unpack_bits(pack_elements_into_bits(values, 4).tobytes(), 4, 5, signed=True), values)


def test_every_listed_dtype_maps_to_numpy():
    assert all(np.dtype(np_name) for np_name, _ in DTYPES.values())


def _spec_with(package, mutate):
    spec = load_model_spec(package)
    function = spec.mlProgram.functions["main"]
    mutate(function.block_specializations[function.opset])
    return spec


@pytest.mark.slow
def test_unknown_op_raises_unsupported_naming_it(classifier):
    package = classifier.packages["float32"]

    def rename_softmax(block):
        next(op for op in block.operations if op.type == "softmax").type = "softmax_v9"

    with pytest.raises(UnsupportedMilOp) as info:
        MilProgram(_spec_with(package, rename_softmax), weights_dir_of(package))
    assert "softmax_v9" in info.value.message and info.value.op_type == "softmax_v9"
    assert isinstance(info.value, VerificationError)


@pytest.mark.slow
def test_unknown_parameter_raises_unsupported(classifier):
    package = classifier.packages["float32"]

    def add_parameter(block):
        op = next(op for op in block.operations if op.type == "gelu")
        op.inputs["approximate_harder"].arguments.add().name = op.inputs["x"].arguments[0].name

    with pytest.raises(UnsupportedMilOp, match="approximate_harder"):
        MilProgram(_spec_with(package, add_parameter), weights_dir_of(package))


@pytest.mark.slow
def test_unknown_mode_raises_unsupported(classifier, texts):
    from mobilekit.convert.onnx_export import tokenize
    from tests.coreml.conftest import SEQUENCE_LENGTH

    package = classifier.packages["float32"]
    spec = load_model_spec(package)
    function = spec.mlProgram.functions["main"]
    block = function.block_specializations[function.opset]
    gelu = next(op for op in block.operations if op.type == "gelu")
    mode_var = gelu.inputs["mode"].arguments[0].name
    const = next(op for op in block.operations if op.type == "const" and op.outputs[0].name == mode_var)
    const.attributes["val"].immediateValue.tensor.strings.values[0] = "CUBIC_APPROXIMATION"
    program = MilProgram(spec, weights_dir_of(package))
    with pytest.raises(UnsupportedMilOp, match="CUBIC_APPROXIMATION"):
        program.run(tokenize(classifier.model_dir, texts[:1], SEQUENCE_LENGTH))


def test_unimplemented_builder_op_raises_unsupported(tmp_path):
    from coremltools.converters.mil import Builder as mb

    from tests.coreml.test_mil_ops import build

    with pytest.raises(UnsupportedMilOp, match="'topk'"):
        build(lambda x: mb.topk(x=x, k=2), tmp_path, x=np.ones((2, 4), dtype=np.float32))


def test_unimplemented_attribute_value_raises_unsupported(tmp_path):
    from coremltools.converters.mil import Builder as mb

    from tests.coreml.test_mil_ops import build

    x = np.ones((2, 4), dtype=np.float32)
    program = build(lambda x: mb.concat(values=[x, x], axis=1, interleave=True), tmp_path, x=x)
    with pytest.raises(UnsupportedMilOp, match="interleave"):
        program.run({"x": x})


@pytest.mark.slow
def test_list_ops_reports_unsupported_ops_too(classifier, tmp_path):
    package = tmp_path / "copy.mlpackage"
    shutil.copytree(classifier.packages["float16"], package)
    ops = list_ops(package)
    assert {"linear", "layer_norm", "softmax", "gelu", "const"} <= set(ops)
    assert ops == sorted(ops)


@pytest.mark.slow
def test_run_checks_inputs(classifier):
    from mobilekit.errors import ModelInputError

    package = classifier.packages["float32"]
    ids = np.zeros((1, 16), dtype=np.int32)
    with pytest.raises(ModelInputError, match="token_type_ids"):
        run_mil_program(package, {"input_ids": ids, "attention_mask": ids})
    with pytest.raises(ModelInputError, match="shape"):
        run_mil_program(package, {"input_ids": ids[:, :8], "attention_mask": ids[:, :8], "token_type_ids": ids[:, :8]})
    with pytest.raises(ModelInputError, match="integer"):
        run_mil_program(package, {"input_ids": ids.astype(np.float32), "attention_mask": ids, "token_type_ids": ids})


def test_not_a_package(tmp_path):
    from mobilekit.errors import ModelInputError

    with pytest.raises(ModelInputError):
        list_ops(tmp_path / "missing.mlpackage")
    (tmp_path / "empty.mlpackage").mkdir()
    with pytest.raises(MilFormatError, match="Manifest.json"):
        list_ops(tmp_path / "empty.mlpackage")

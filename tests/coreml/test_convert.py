"""convert_coreml on tiny real models: every variant, its metadata, its program, its errors."""

from __future__ import annotations

import numpy as np
import pytest

from mobilekit import variants as _v
from mobilekit.convert.coreml import VARIANTS, convert_coreml, package_size, read_coreml_metadata
from mobilekit.convert.embedding_int4 import block_size
from mobilekit.errors import ConversionError, ModelInputError
from mobilekit.mil import MilProgram, list_ops
from tests.coreml.conftest import METADATA, SEQUENCE_LENGTH
from tests.coreml.mil_weights import blockwise_weights

pytestmark = pytest.mark.slow


def test_every_variant_is_an_ml_program_package(classifier):
    assert set(classifier.packages) == set(VARIANTS)
    for variant, path in classifier.packages.items():
        assert path.name == _v.get(_v.COREML, variant).file_name  # model_int8_int4emb.mlpackage: "-" -> "_"
        assert (path / "Manifest.json").is_file()
        assert not list(path.parent.glob("*.partial*")), "a half-written package was left behind"
    sizes = {v: package_size(p) for v, p in classifier.packages.items()}
    # Each step down in precision must shrink the package (weights dominate even here).
    assert sizes["float32"] > sizes["float16"] > sizes["int8"] > sizes["palettize6"] > sizes["palettize4"], sizes
    assert sizes["int8"] > sizes[_v.INT8_INT4_EMBEDDING], sizes


def test_compressed_variants_hold_compressed_weights(classifier):
    ops = {v: list_ops(p) for v, p in classifier.packages.items()}
    assert "constexpr_affine_dequantize" in ops["int8"]
    assert "constexpr_lut_to_dense" in ops["palettize6"] and "constexpr_lut_to_dense" in ops["palettize4"]
    for variant in ("float16", "float32"):
        assert not [op for op in ops[variant] if op.startswith("constexpr_")]
    # Per op type: the dense layers and the embedding table are compressed...
    program = MilProgram.from_package(classifier.packages["palettize4"])
    arrays = [v for v in program.constants.values() if isinstance(v, np.ndarray)]
    tables = [v for v in arrays if v.ndim == 2 and v.shape[0] > 100]  # vocab x hidden
    assert tables and len(np.unique(tables[0])) <= 16
    # ...and nothing else: the position embeddings (folded into a constant added to the token
    # embeddings, not a gather) keep all their values.
    positions = [v for v in arrays if v.shape == (1, SEQUENCE_LENGTH, 32)]
    assert positions and len(np.unique(positions[0])) > 16


def test_int4_embedding_variant_stores_the_word_table_int4_and_the_layers_int8(classifier):
    """int8-int4emb: an iOS 18 program whose word-embedding table is int4 with a float16 scale per
    block of a row, every other compressed weight int8 per output channel as in int8."""
    package = classifier.packages[_v.INT8_INT4_EMBEDDING]
    assert MilProgram.from_package(package).opset == "CoreML8"  # iOS 18
    weights = blockwise_weights(package)
    int4 = {name: w for name, w in weights.items() if w[0] == "INT4"}
    assert len(int4) == 1
    (name, (_, shape, scale)), = int4.items()
    assert "word_embeddings" in name and shape == (106, 32)  # the tiny vocabulary x hidden
    assert scale == (106, 32 // block_size(32))  # one scale per block of a row (the whole row here)
    layers = [w for w in weights.values() if w[0] != "INT4"]
    assert len(layers) >= 12 and all(dtype == "INT8" and scale == (shape[0], 1) for dtype, shape, scale in layers)
    # The table's int8 bytes become int4 bytes: the weight file shrinks by half the table.
    from mobilekit.mil.package import weights_dir_of

    sizes = {v: (weights_dir_of(classifier.packages[v]) / "weight.bin").stat().st_size
             for v in (_v.INT8, _v.INT8_INT4_EMBEDDING)}
    assert sizes[_v.INT8] - sizes[_v.INT8_INT4_EMBEDDING] >= 0.9 * 106 * 32 / 2, sizes


def test_program_signature(classifier, embedder):
    for converted, output in ((classifier, "logits"), (embedder, "embedding")):
        program = MilProgram.from_package(converted.packages["float16"])
        assert [(d.name, d.dtype, d.shape) for d in program.inputs] == [
            (name, np.dtype("int32"), (1, SEQUENCE_LENGTH)) for name in ("input_ids", "attention_mask", "token_type_ids")
        ]
        assert program.output_names == [output]
        assert program.opset == "CoreML6"  # iOS 16


def test_metadata_round_trip(classifier):
    for variant, path in classifier.packages.items():
        meta = read_coreml_metadata(path)
        assert meta["author"] == METADATA["author"]
        assert meta["short_description"] == METADATA["short_description"]
        assert meta["version"] == METADATA["version"]
        assert meta["license"] == METADATA["license"]
        ours = meta["mobilekit"]
        assert ours["variant"] == variant
        assert ours["task"] == "text-classification"
        assert ours["sequence_length"] == SEQUENCE_LENGTH
        assert ours["labels"] == ["negative", "positive"]
        assert ours["tokenizer"] == METADATA["tokenizer"]
        assert ours["source_sha256"] == METADATA["source_sha256"]
        assert ours["mobilekit_version"]
        assert ours["compute_precision"] == ("float32" if variant == "float32" else "float16")
        assert ours["weight_compression"] == {"int8": "int8", "palettize6": "palettize", "palettize4": "palettize",
                                              _v.INT8_INT4_EMBEDDING: "int8"}.get(variant, "none")
        assert ours.get("embedding_table_bits") == (4 if variant == _v.INT8_INT4_EMBEDDING else None)
        assert ours.get("deployment_target") == ("iOS18" if variant == _v.INT8_INT4_EMBEDDING else None)
        assert meta["outputs"] == ["logits"]
        assert "com.github.apple.coremltools.version" in meta["user_defined"]


def test_metadata_stored_as_apps_read_it(classifier):
    """Strings stay plain (an app reads mobilekit.task directly); structured values are JSON."""
    from mobilekit.mil.package import load_model_spec

    user = dict(load_model_spec(classifier.packages["float16"]).description.metadata.userDefined)
    assert user["mobilekit.task"] == "text-classification"
    assert user["mobilekit.labels"] == '["negative", "positive"]'
    assert user["mobilekit.sequence_length"] == str(SEQUENCE_LENGTH)


def test_float16_mask_bias_is_saturated_not_infinite(classifier):
    """float32's min overflows to -inf in float16; the saturating pass keeps it at -65504."""
    for variant in ("float16", "int8", "palettize4"):
        constants = MilProgram.from_package(classifier.packages[variant]).constants
        floats = [v for v in constants.values() if isinstance(v, np.ndarray) and v.dtype.kind == "f"]
        assert not any(np.isinf(v).any() for v in floats), variant
        assert any((v == np.float16(-65504)).any() for v in floats if v.dtype == np.float16), variant


def test_conversion_times_are_recorded(classifier):
    assert set(classifier.seconds) == set(VARIANTS)
    assert all(s > 0 for s in classifier.seconds.values())


def test_unknown_variant_is_refused(classifier, tmp_path):
    with pytest.raises(ModelInputError) as info:
        convert_coreml(classifier.model_dir, tmp_path, task="text-classification", sequence_length=8,
                       pooling="mean", normalize=True, variants=["float16", "int4"], metadata={})
    assert "int4" in info.value.message and "palettize4" in info.value.hint
    assert not list(tmp_path.iterdir())


def test_contradicting_metadata_is_refused(classifier, tmp_path):
    with pytest.raises(ModelInputError, match="sequence_length"):
        convert_coreml(classifier.model_dir, tmp_path, task="text-classification", sequence_length=8,
                       pooling="mean", normalize=True, variants=["float16"], metadata={"sequence_length": 128})


def test_sequence_length_beyond_position_table_is_refused(classifier, tmp_path):
    with pytest.raises(ModelInputError, match="position table"):
        convert_coreml(classifier.model_dir, tmp_path, task="text-classification", sequence_length=65,
                       pooling="mean", normalize=True, variants=["float16"], metadata={})


def test_missing_torch_converter_names_the_op():
    """A torch op coremltools cannot convert gives a ConversionError that names it."""
    import torch

    from mobilekit.convert.coreml import _convert_traced

    class UsesLgamma(torch.nn.Module):
        def forward(self, input_ids):
            return torch.lgamma(input_ids.float() + 1.0)

    traced = torch.jit.trace(UsesLgamma(), (torch.ones((1, 4), dtype=torch.int32),))
    with pytest.raises(ConversionError) as info:
        _convert_traced(traced, ["input_ids"], "logits", 4, "float32")
    assert "'lgamma'" in info.value.message
    assert "register_torch_op" in info.value.hint


def test_new_ones_converter_registered_once():
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY

    from mobilekit.convert.coreml import _register_missing_torch_ops

    _register_missing_torch_ops()
    _register_missing_torch_ops()  # idempotent: a second conversion in the same process works
    assert "new_ones" in _TORCH_OPS_REGISTRY

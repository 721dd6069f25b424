"""Multifunction Core ML packages: several ML program functions in one ``.mlpackage``, each
weight stored once for all of them.

Both model kinds use it: the causal LM (``prefill_<N>`` and ``decode``) and the length-bucketed
encoder (``seq_<N>`` per bucket). Multifunction packages are specification version 9 (opset
CoreML8): iOS 18 / macOS 15. An app picks a function with ``MLModelConfiguration.functionName``;
without one, Core ML runs the package's default function.

A multifunction package is not an ``MLModel`` that coremltools can load and save again on Linux,
so its metadata is written into the protobuf directly (``write_package_metadata``).
"""

from __future__ import annotations

import json
from pathlib import Path

DEPLOYMENT_TARGET = "iOS18"


def save_multifunction(functions: dict, scratch: Path, path: Path, *, default: str) -> None:
    """Each function (name -> single-function ``MLModel``) saved alone into ``scratch``, then
    merged (weights de-duplicated) into ``path``, atomically; ``default`` is the default function."""
    from mobilekit.convert.coreml import write_package_atomically

    scratch.mkdir(parents=True, exist_ok=True)
    singles = {}
    for name, mlmodel in functions.items():
        singles[name] = scratch / f"{name}.mlpackage"
        mlmodel.save(str(singles[name]))
    write_package_atomically(path, lambda tmp: _merge(singles, default, tmp))


def _merge(singles: dict[str, Path], default: str, destination: Path) -> None:
    """``ct.utils.save_multifunction`` of the single-function packages ``singles`` (function name
    -> package), without its pass pipeline.

    save_multifunction marks every pass skipped but still runs the default pipeline, validating
    the whole program after each of its 92 passes: 75% of its time (2-4 s per tiny package).
    This is its code (coremltools 9.0) with an empty pipeline; coremltools' own function when
    its internals have moved.
    """
    import coremltools as ct

    try:
        from coremltools import _SPECIFICATION_VERSION_IOS_18
        from coremltools.converters.mil.converter import mil_convert
        from coremltools.converters.mil.frontend.milproto import load as milproto
        from coremltools.converters.mil.mil import Program
        from coremltools.converters.mil.mil.passes.pass_registry import PASS_REGISTRY
        from coremltools.proto import Model_pb2
    except ImportError:  # pragma: no cover - another coremltools layout
        descriptor = ct.utils.MultiFunctionDescriptor()
        for name, single in singles.items():
            descriptor.add_function(str(single), src_function_name="main", target_function_name=name)
        descriptor.default_function_name = default
        ct.utils.save_multifunction(descriptor, str(destination))
        return
    from mobilekit.mil.package import load_model_spec, weights_dir_of

    program, descriptions = Program(), []
    specs = {name: load_model_spec(single) for name, single in singles.items()}
    version = max([_SPECIFICATION_VERSION_IOS_18, *(spec.specificationVersion for spec in specs.values())])
    for name, spec in specs.items():
        source = milproto.load(spec, version, str(weights_dir_of(singles[name])))
        program.add_function(name, source.functions["main"])
        io = spec.description
        descriptions.append(Model_pb2.FunctionDescription(name=name, input=io.input, output=io.output))
    PASS_REGISTRY["common::const_deduplication"]._deduplicate_const_across_functions(program)
    program.default_function_name = default
    program.skip_all_passes = True
    program.export_as_multifunction = True
    mlmodel = mil_convert(program, convert_to="mlprogram", convert_from="milinternal",
                          specification_version=version, compute_units=ct.ComputeUnit.CPU_ONLY,
                          skip_model_load=True, pass_pipeline=ct.PassPipeline.EMPTY,
                          model_description=Model_pb2.ModelDescription(functions=descriptions,
                                                                       defaultFunctionName=default))
    mlmodel.save(str(destination))


def write_package_metadata(path: Path, metadata: dict, user: dict) -> None:
    """Metadata written into the package's protobuf (a multifunction package is not an ``MLModel``
    that coremltools can load and save again on Linux)."""
    from mobilekit.convert.coreml import METADATA_PREFIX, STANDARD_METADATA
    from mobilekit.mil.package import find_model_file, load_model_spec

    spec = load_model_spec(path)
    meta = spec.description.metadata
    fields = {"author": "author", "short_description": "shortDescription", "version": "versionString",
              "license": "license"}
    for key in STANDARD_METADATA:
        if metadata.get(key) is not None:
            setattr(meta, fields[key], str(metadata[key]))
    json_fields = []
    for key, value in user.items():
        if value is None:
            continue
        if not isinstance(value, str):
            value = json.dumps(value, sort_keys=True, ensure_ascii=False)
            json_fields.append(key)
        meta.userDefined[METADATA_PREFIX + key] = value
    meta.userDefined[METADATA_PREFIX + "json_fields"] = json.dumps(sorted(json_fields))
    find_model_file(path).write_bytes(spec.SerializeToString())

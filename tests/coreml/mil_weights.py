"""Reading a saved ML program's compressed weights from its spec (for the tests' checks)."""

from __future__ import annotations


def blockwise_weights(package) -> dict[str, tuple]:
    """{output name: (data dtype, data shape, scale shape)} of every ``constexpr_blockwise_shift_scale``
    of the default function (the iOS 18 form of int8 and int4 weights)."""
    from mobilekit.mil.package import dtype_name, load_model_spec

    spec = load_model_spec(package)
    function = spec.mlProgram.functions[spec.description.defaultFunctionName or "main"]
    found = {}
    for op in function.block_specializations[function.opset].operations:
        if op.type == "constexpr_blockwise_shift_scale":
            data, scale = (op.inputs[k].arguments[0].value.type.tensorType for k in ("data", "scale"))
            found[op.outputs[0].name] = (dtype_name(data.dataType), tuple(d.constant.size for d in data.dimensions),
                                         tuple(d.constant.size for d in scale.dimensions))
    return found

"""A NumPy reference interpreter for saved Core ML ML programs.

coremltools can only run predictions on macOS; this runs the program *as saved* (the
``model.mlmodel`` spec and its weight file, the bytes an app ships) on any OS, so every Core ML
variant can be checked against torch in CI.

What it executes: ``spec.mlProgram.functions["main"]``, the block specialization of the
function's opset (``CoreML6`` for iOS 16 programs). Ops run in program order; const and
constexpr ops (weights, including compressed ones) are evaluated once when the program is
loaded. Each op computes in float32 (float16 inputs widened) and its results are rounded to the
dtypes the program declares, so float16 programs show float16 rounding at every tensor; every
result's shape is checked against the declared one, so an interpreter bug shows as an error,
not as a wrong number. Ops, parameters or modes it does not implement raise ``UnsupportedMilOp``
(see ``ops.py``) when the program is loaded.

It is a reference for numerics, not a simulator of a device: Core ML may fuse ops, pick other
accumulation orders or keep some layers in float32 on a given compute unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mobilekit.errors import ModelInputError, VerificationError
from mobilekit.mil.ops import OPS, OpDef, UnsupportedMilOp
from mobilekit.mil.package import (
    MilFormatError,
    ValueReader,
    dtype_name,
    load_model_spec,
    numpy_dtype,
    tensor_shape,
    weights_dir_of,
)

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np


@dataclass(frozen=True)
class _Output:
    name: str
    dtype: Any  # numpy dtype
    shape: tuple[int, ...] | None


@dataclass(frozen=True)
class _Step:
    op_type: str
    name: str
    opdef: OpDef
    # param -> ("var", name) | ("vars", [names or values]) | ("value", value)
    args: dict[str, tuple[str, Any]]
    outputs: tuple[_Output, ...]


@dataclass(frozen=True)
class TensorDecl:
    name: str
    dtype: Any
    shape: tuple[int, ...] | None


def _tensor_decl(named_value_type) -> TensorDecl:
    vtype = named_value_type.type
    if vtype.WhichOneof("type") != "tensorType":
        raise MilFormatError(f"{named_value_type.name}: only tensor inputs are supported")
    return TensorDecl(named_value_type.name, numpy_dtype(vtype.tensorType.dataType), tensor_shape(vtype.tensorType))


def _op_name(op) -> str:
    attr = op.attributes.get("name")
    if attr is not None and attr.immediateValue.tensor.strings.values:
        return attr.immediateValue.tensor.strings.values[0]
    return op.outputs[0].name if op.outputs else "?"


class MilProgram:
    """One loaded ML program, ready to ``run`` many times."""

    def __init__(self, spec, weights_dir: Path | None, *, source: str = "<spec>"):
        self.source = source
        if spec.WhichOneof("Type") != "mlProgram":
            raise MilFormatError(f"{source} is a {spec.WhichOneof('Type')} model, not an ML program",
                                 hint="convert with convert_to='mlprogram'")
        functions = spec.mlProgram.functions
        if "main" not in functions:
            raise MilFormatError(f"{source} has no 'main' function (has: {', '.join(functions)})")
        function = functions["main"]
        self.opset = function.opset
        if self.opset not in function.block_specializations:
            raise MilFormatError(f"{source}: no block for the function's opset {self.opset}")
        block = function.block_specializations[self.opset]
        self.inputs = [_tensor_decl(i) for i in function.inputs]
        self.output_names = list(block.outputs)
        self._reader = ValueReader(weights_dir)
        self._constants: dict[str, Any] = {}
        self._steps: list[_Step] = []
        self.op_types = [op.type for op in block.operations]
        for op in block.operations:
            self._compile(op)

    @classmethod
    def from_package(cls, package: Path) -> "MilProgram":
        package = Path(package)
        return cls(load_model_spec(package), weights_dir_of(package), source=str(package))

    @property
    def constants(self) -> dict[str, Any]:
        """Every const/constexpr output, evaluated (weights decompressed), by variable name."""
        return dict(self._constants)

    # -- loading -------------------------------------------------------------------------------

    def _compile(self, op) -> None:
        name = _op_name(op)
        opdef = OPS.get(op.type)
        if opdef is None:
            raise UnsupportedMilOp(f"MIL op {op.type!r} ({name}) is not implemented by the interpreter",
                                   op_type=op.type)
        if len(op.blocks):
            raise UnsupportedMilOp(f"MIL op {op.type!r} ({name}) has nested blocks (control flow)", op_type=op.type)
        args: dict[str, tuple[str, Any]] = {}
        for param, argument in op.inputs.items():
            self._check_param(opdef, op.type, name, param)
            items = []
            for binding in argument.arguments:
                kind = binding.WhichOneof("binding")
                items.append(("var", binding.name) if kind == "name" else ("value", self._reader.decode(binding.value)))
            if param in opdef.variadic:
                args[param] = ("vars", items)
            elif len(items) != 1:
                raise UnsupportedMilOp(f"{op.type} ({name}): parameter {param!r} has {len(items)} arguments",
                                       op_type=op.type)
            else:
                args[param] = items[0]
        for key, value in op.attributes.items():
            if key == "name":
                continue
            self._check_param(opdef, op.type, name, key)
            args[key] = ("value", self._reader.decode(value))
        missing = [p for p in opdef.required if p not in args]
        if missing:
            raise MilFormatError(f"{op.type} ({name}) lacks required parameter(s) {', '.join(missing)}")
        outputs = tuple(_Output(o.name, *self._output_type(o, op.type)) for o in op.outputs)
        step = _Step(op.type, name, opdef, args, outputs)
        if op.type == "const" or op.type.startswith("constexpr_"):
            if any(kind != "value" for kind, _ in args.values()):
                raise MilFormatError(f"{op.type} ({name}) has non-constant parameters")
            for out, value in zip(outputs, self._execute(step, {})):
                self._constants[out.name] = value
        else:
            self._steps.append(step)

    @staticmethod
    def _check_param(opdef: OpDef, op_type: str, name: str, param: str) -> None:
        if param not in opdef.params:
            raise UnsupportedMilOp(f"{op_type} ({name}): parameter {param!r} is not implemented by the interpreter",
                                   op_type=op_type)

    @staticmethod
    def _output_type(output, op_type: str):
        vtype = output.type
        if vtype.WhichOneof("type") != "tensorType":
            raise UnsupportedMilOp(f"{op_type}: output {output.name} is a {vtype.WhichOneof('type')}", op_type=op_type)
        tensor_type = vtype.tensorType
        if dtype_name(tensor_type.dataType) == "STRING":
            return None, tensor_shape(tensor_type)
        return numpy_dtype(tensor_type.dataType), tensor_shape(tensor_type)

    # -- running -------------------------------------------------------------------------------

    def _execute(self, step: _Step, env: dict[str, Any]) -> list[Any]:
        import numpy as np

        def resolve(kind, item):
            if kind == "value":
                return item
            if item not in env:
                raise MilFormatError(f"{step.op_type} ({step.name}) reads {item!r} before it is defined")
            return env[item]

        kwargs = {}
        for param, (kind, item) in step.args.items():
            kwargs[param] = [resolve(k, i) for k, i in item] if kind == "vars" else resolve(kind, item)
        try:
            result = step.opdef.fn(**kwargs)
        except (UnsupportedMilOp, MilFormatError):
            raise
        except Exception as e:  # NumPy shape/broadcast errors: an interpreter or program bug
            raise VerificationError(f"MIL op {step.op_type} ({step.name}) failed in the interpreter: "
                                    f"{type(e).__name__}: {e}") from e
        results = list(result) if isinstance(result, tuple) else [result]
        if len(results) != len(step.outputs):
            raise VerificationError(f"{step.op_type} ({step.name}) gave {len(results)} outputs, "
                                    f"the program declares {len(step.outputs)}")
        values = []
        for out, value in zip(step.outputs, results):
            if out.dtype is not None:
                value = np.asarray(value).astype(out.dtype)  # float16 programs: round to float16 here
                if out.shape is not None and value.shape != out.shape:
                    raise VerificationError(
                        f"{step.op_type} ({step.name}) computed shape {value.shape}, the program declares {out.shape}")
            values.append(value)
        return values

    def _run_one(self, feeds: dict[str, "np.ndarray"]) -> dict[str, "np.ndarray"]:
        env: dict[str, Any] = dict(self._constants)
        env.update(feeds)
        for step in self._steps:
            for out, value in zip(step.outputs, self._execute(step, env)):
                env[out.name] = value
        return {name: env[name] for name in self.output_names}

    def run(self, inputs: dict[str, "np.ndarray"]) -> dict[str, "np.ndarray"]:
        """Run on ``inputs`` (extra keys ignored). Arrays with a batch of N where the program
        takes 1 run row by row; the outputs are then stacked along axis 0."""
        import numpy as np

        feeds = {}
        for decl in self.inputs:
            if decl.name not in inputs:
                raise ModelInputError(f"input {decl.name!r} is missing (the program takes "
                                      f"{', '.join(d.name for d in self.inputs)})")
            value = np.asarray(inputs[decl.name])
            if np.issubdtype(decl.dtype, np.integer) and not np.issubdtype(value.dtype, np.integer):
                raise ModelInputError(f"input {decl.name!r} must be integer, got {value.dtype}")
            feeds[decl.name] = value.astype(decl.dtype)
        batched = self._batch_size(feeds)
        with np.errstate(all="ignore"):  # inf/NaN are values here, as on a device
            if batched is None:
                return self._run_one(feeds)
            rows = [self._run_one({k: v[i:i + 1] for k, v in feeds.items()}) for i in range(batched)]
        return {name: np.concatenate([r[name] for r in rows], axis=0) for name in self.output_names}

    def _batch_size(self, feeds) -> int | None:
        """None when every input has its declared shape; N when all have batch N for a declared 1."""
        mismatched = [d for d in self.inputs if d.shape is not None and feeds[d.name].shape != d.shape]
        if not mismatched:
            return None
        sizes = set()
        for decl in self.inputs:
            shape = feeds[decl.name].shape
            if decl.shape is None or not decl.shape or decl.shape[0] != 1 or shape[1:] != decl.shape[1:]:
                raise ModelInputError(f"input {decl.name!r} has shape {shape}; the program takes {decl.shape}")
            sizes.add(shape[0])
        if len(sizes) != 1:
            raise ModelInputError(f"inputs have different batch sizes: {sorted(sizes)}")
        return sizes.pop()


def run_mil_program(mlpackage: Path, inputs: dict[str, "np.ndarray"]) -> dict[str, "np.ndarray"]:
    """Load ``mlpackage`` and run its ``main`` function on ``inputs``; outputs by name."""
    return MilProgram.from_package(Path(mlpackage)).run(inputs)


def list_ops(mlpackage: Path) -> list[str]:
    """The distinct op types of the package's ``main`` program (sorted), supported or not."""
    spec = load_model_spec(Path(mlpackage))
    if spec.WhichOneof("Type") != "mlProgram":
        raise MilFormatError(f"{mlpackage} is not an ML program")
    function = spec.mlProgram.functions["main"]
    block = function.block_specializations[function.opset]
    types: set[str] = set()

    def walk(operations):
        for op in operations:
            types.add(op.type)
            for inner in op.blocks:
                walk(inner.operations)

    walk(block.operations)
    return sorted(types)

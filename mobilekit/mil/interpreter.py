"""A NumPy reference interpreter for saved Core ML ML programs.

coremltools can only run predictions on macOS; this runs the program *as saved* (the
``model.mlmodel`` spec and its weight file, the bytes an app ships) on any OS, so every Core ML
variant can be checked against torch in CI.

What it executes: one function of ``spec.mlProgram`` (``"main"``, or the one named: a
multifunction package, iOS 18, holds several, e.g. ``prefill_64`` and ``decode``), the block
specialization of the function's opset (``CoreML6`` for iOS 16 programs, ``CoreML8`` for
iOS 18). Ops run in program order; const and constexpr ops (weights, including compressed
ones) are evaluated once when the program is loaded. Each op computes in float32 (float16 inputs widened) and its results are rounded to the
dtypes the program declares, so float16 programs show float16 rounding at every tensor; every
result's shape is checked against the declared one, so an interpreter bug shows as an error,
not as a wrong number. Ops, parameters or modes it does not implement raise ``UnsupportedMilOp``
(see ``ops.py``) when the program is loaded.

It is a reference for numerics, not a simulator of a device: Core ML may fuse ops, pick other
accumulation orders or keep some layers in float32 on a given compute unit.

For programs run many times (a decoder driven token by token) two load options trade memory
for speed without changing any result: ``constant_cache`` (a dict shared by the ``MilProgram``s
of one package's functions) evaluates each weight once for all of them (the functions of a
multifunction package reference the same blobs), and ``widen_constants`` keeps float16
constants widened to float32, as every op would widen them on each run anyway.
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

    def __init__(self, spec, weights_dir: Path | None, *, source: str = "<spec>", function: str | None = None,
                 constant_cache: dict | None = None, widen_constants: bool = False):
        """``function``: the function to run (default ``"main"``, else the package's default
        function). ``constant_cache``/``widen_constants``: see the module docstring."""
        self.source = source
        if spec.WhichOneof("Type") != "mlProgram":
            raise MilFormatError(f"{source} is a {spec.WhichOneof('Type')} model, not an ML program",
                                 hint="convert with convert_to='mlprogram'")
        functions = spec.mlProgram.functions
        self.function_name = function or _default_function(spec)
        if self.function_name not in functions:
            raise MilFormatError(f"{source} has no {self.function_name!r} function (has: {', '.join(functions)})")
        function = functions[self.function_name]
        self.opset = function.opset
        if self.opset not in function.block_specializations:
            raise MilFormatError(f"{source}: no block for the function's opset {self.opset}")
        block = function.block_specializations[self.opset]
        self.inputs = [_tensor_decl(i) for i in function.inputs]
        self.output_names = list(block.outputs)
        self._reader = ValueReader(weights_dir)
        self._constants: dict[str, Any] = {}
        self._constant_cache = constant_cache if constant_cache is not None else {}
        self._widen = widen_constants
        self._steps: list[_Step] = []
        self.op_types = [op.type for op in block.operations]
        for op in block.operations:
            self._compile(op)

    @classmethod
    def from_package(cls, package: Path, *, function: str | None = None, spec=None, **options) -> "MilProgram":
        """``spec``: the package's already parsed protobuf (loading several functions parses it once)."""
        package = Path(package)
        return cls(spec if spec is not None else load_model_spec(package), weights_dir_of(package),
                   source=str(package), function=function, **options)

    @property
    def constants(self) -> dict[str, Any]:
        """Every const/constexpr output, evaluated (weights decompressed), by variable name
        (float16 ones as float32 when loaded with ``widen_constants``)."""
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
        constant = op.type == "const" or op.type.startswith("constexpr_")
        const_key = _constant_key(op, self._widen, self._reader.weights_dir) if constant else None
        if const_key is not None and const_key in self._constant_cache:  # evaluated already (another function's weight)
            for out, value in zip(op.outputs, self._constant_cache[const_key]):
                self._constants[out.name] = value
            return
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
        if constant:
            if const_key is None or any(kind != "value" for kind, _ in args.values()):
                raise MilFormatError(f"{op.type} ({name}) has non-constant parameters")
            self._evaluate_constant(step, const_key)
        else:
            self._steps.append(step)

    def _evaluate_constant(self, step: _Step, key: tuple) -> None:
        """Evaluate a const/constexpr op and remember it in ``constant_cache`` under ``key``."""
        import numpy as np

        values = self._execute(step, {})
        if self._widen:
            values = [v.astype(np.float32) if isinstance(v, np.ndarray) and v.dtype == np.float16 else v
                      for v in values]
        self._constant_cache[key] = values
        for out, value in zip(step.outputs, values):
            self._constants[out.name] = value

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


def _default_function(spec) -> str:
    functions = spec.mlProgram.functions
    if "main" in functions or not spec.description.defaultFunctionName:
        return "main"
    return spec.description.defaultFunctionName


def _value_key(value) -> tuple:
    """What determines a constant ``MIL_pb2.Value``: its blob location, or its serialized bytes."""
    if value.WhichOneof("value") == "blobFileValue":
        return ("blob", value.blobFileValue.fileName, value.blobFileValue.offset, value.type.SerializeToString())
    return ("immediate", value.SerializeToString())


def _constant_key(op, widen: bool, weights_dir) -> tuple | None:
    """What determines a const/constexpr op's outputs (op type, argument values or blob
    locations in ``weights_dir``, output types): equal keys, equal values. None when an
    argument is a variable."""
    inputs = []
    for param, argument in sorted(op.inputs.items()):
        if any(b.WhichOneof("binding") != "value" for b in argument.arguments):
            return None
        inputs.append((param, tuple(_value_key(b.value) for b in argument.arguments)))
    attributes = tuple((k, _value_key(v)) for k, v in sorted(op.attributes.items()) if k != "name")
    outputs = tuple(o.type.SerializeToString() for o in op.outputs)
    return op.type, tuple(inputs), attributes, outputs, widen, str(weights_dir)


def function_names(mlpackage: Path) -> list[str]:
    """The functions of a package's ML program (``["main"]`` for a single-function one)."""
    spec = load_model_spec(Path(mlpackage))
    if spec.WhichOneof("Type") != "mlProgram":
        raise MilFormatError(f"{mlpackage} is not an ML program")
    return list(spec.mlProgram.functions)


def run_mil_program(mlpackage: Path, inputs: dict[str, "np.ndarray"], *,
                    function: str | None = None) -> dict[str, "np.ndarray"]:
    """Load ``mlpackage`` and run its ``main`` (or the named) function on ``inputs``; outputs by name."""
    return MilProgram.from_package(Path(mlpackage), function=function).run(inputs)


def list_ops(mlpackage: Path, *, function: str | None = None) -> list[str]:
    """The distinct op types of the package's ``main`` program (sorted), supported or not: of the
    named function, or of every function of a multifunction package that has no ``main``."""
    spec = load_model_spec(Path(mlpackage))
    if spec.WhichOneof("Type") != "mlProgram":
        raise MilFormatError(f"{mlpackage} is not an ML program")
    functions = spec.mlProgram.functions
    if function is not None and function not in functions:
        raise MilFormatError(f"{mlpackage} has no {function!r} function (has: {', '.join(functions)})")
    names = [function] if function else (["main"] if "main" in functions else list(functions))
    types: set[str] = set()

    def walk(operations):
        for op in operations:
            types.add(op.type)
            for inner in op.blocks:
                walk(inner.operations)

    for name in names:
        block = functions[name].block_specializations[functions[name].opset]
        walk(block.operations)
    return sorted(types)

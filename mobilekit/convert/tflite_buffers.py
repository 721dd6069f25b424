"""Weight sharing between the signatures of one .tflite file (runs in the litert-torch environment).

litert-torch writes each constant once for all signatures of a file, but ai-edge-quantizer
quantizes each signature's subgraph on its own and writes the quantized weights once per
signature (SmolLM2-135M int4: 42 MB of 147 MB were copies; an encoder with four length buckets
would carry its int8 weights four times). ``deduplicate_buffers`` points every tensor at the first
of its byte-identical buffers and drops the copies.

``float16_biases`` gives the float16 model's FULLY_CONNECTED biases the float16 + DEQUANTIZE form
its weights already have (see there).

Imports ai_edge_litert / ai_edge_quantizer, so only the converter drivers call it.
"""

from __future__ import annotations

from pathlib import Path

MIN_SHARED_BYTES = 1024  # smaller buffers (scalars, shapes) are not worth a lookup


def deduplicate_buffers(path: Path) -> int:
    """Rewrites ``path`` so byte-identical buffers are stored once; returns how many copies went."""
    import hashlib

    from ai_edge_litert.tools import flatbuffer_utils
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils

    model = tfl_flatbuffer_utils.read_model(str(path))
    first: dict[str, int] = {}
    remap: dict[int, int] = {}
    for index, buffer in enumerate(model.buffers):
        if buffer.data is None or len(buffer.data) < MIN_SHARED_BYTES:
            continue
        digest = hashlib.sha256(bytes(buffer.data)).hexdigest()
        if digest in first:
            remap[index] = first[digest]
        else:
            first[digest] = index
    if not remap:
        return 0
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            tensor.buffer = remap.get(tensor.buffer, tensor.buffer)
    for index in remap:
        model.buffers[index].data = None
    Path(path).write_bytes(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))
    return len(remap)


def float16_biases(path: Path) -> int:
    """Rewrites ``path`` so every FULLY_CONNECTED whose weights are float16 (a DEQUANTIZE of a float16
    constant, as ai-edge-quantizer's float_casting writes them) reads its bias the same way; returns
    how many bias constants were converted.

    ai-edge-quantizer casts the weights but leaves the float32 bias, and the XNNPACK delegate of
    LiteRT 2.1 (ai-edge-litert 2.1.0, the host runtime) refuses a fully connected op with a float16
    filter and a float32 bias: all 36 of MiniLM-L6's fully connected ops then ran in the built-in
    kernels, 87 ms per 128-token inference against 25 ms for float32. With float16 biases (what
    TFLiteConverter's float16 quantization writes) XNNPACK takes them again (25 ms). LiteRT 2.3
    delegates either form. One float16 buffer per bias buffer, so signatures still share them.
    """
    import copy

    import numpy as np
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils

    model = tfl_flatbuffer_utils.read_model(str(path))
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    fc, dequantize = schema.BuiltinOperator.FULLY_CONNECTED, schema.BuiltinOperator.DEQUANTIZE
    if fc not in codes or dequantize not in codes:
        return 0
    dequantize_code = codes.index(dequantize)
    float16_buffer: dict[int, int] = {}  # float32 bias buffer -> its float16 copy
    for subgraph in model.subgraphs:
        producer = {int(out): op for op in subgraph.operators if codes[op.opcodeIndex] == dequantize
                    for out in op.outputs}
        operators = []
        for op in subgraph.operators:
            inputs = [int(i) for i in op.inputs]
            if codes[op.opcodeIndex] == fc and len(inputs) > 2 and inputs[2] >= 0 and inputs[1] in producer:
                weights = subgraph.tensors[int(producer[inputs[1]].inputs[0])]
                bias = subgraph.tensors[inputs[2]]
                data = model.buffers[bias.buffer].data
                if (weights.type == schema.TensorType.FLOAT16 and bias.type == schema.TensorType.FLOAT32
                        and data is not None and len(data)):
                    if bias.buffer not in float16_buffer:
                        values = np.frombuffer(bytes(data), dtype=np.float32).astype(np.float16)
                        buffer = schema.BufferT()
                        buffer.data = np.frombuffer(values.tobytes(), dtype=np.uint8)
                        model.buffers.append(buffer)
                        float16_buffer[bias.buffer] = len(model.buffers) - 1
                    half = copy.deepcopy(bias)
                    half.type, half.buffer = schema.TensorType.FLOAT16, float16_buffer[bias.buffer]
                    half.name = _name(bias.name) + "_fp16"
                    full = copy.deepcopy(bias)
                    full.buffer, full.name = 0, _name(bias.name) + "_fp16_dequant"
                    subgraph.tensors += [half, full]
                    cast = schema.OperatorT()
                    cast.opcodeIndex = dequantize_code
                    cast.inputs, cast.outputs = [len(subgraph.tensors) - 2], [len(subgraph.tensors) - 1]
                    operators.append(cast)
                    inputs[2] = len(subgraph.tensors) - 1
                    op.inputs = inputs
            operators.append(op)
        subgraph.operators = operators
    if not float16_buffer:
        return 0
    # The float32 bias tensors no op reads any more give up their data.
    for subgraph in model.subgraphs:
        read = {int(i) for op in subgraph.operators for i in list(op.inputs) + list(op.outputs)}
        read |= {int(i) for i in list(subgraph.inputs) + list(subgraph.outputs)}
        for index, tensor in enumerate(subgraph.tensors):
            if index not in read and tensor.buffer in float16_buffer:
                tensor.buffer = 0
    still_used = {t.buffer for subgraph in model.subgraphs for t in subgraph.tensors}
    for index in float16_buffer:
        if index not in still_used:
            model.buffers[index].data = None
    Path(path).write_bytes(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))
    return len(float16_buffer)


def _name(name) -> str:
    return name.decode() if isinstance(name, bytes) else str(name)


def buffer_bytes(path: Path) -> dict[str, int]:
    """How a .tflite's bytes split: ``data`` (constant buffers, i.e. weights), ``shared`` (the part
    of it more than one subgraph reads), ``graph`` (everything else: ops, tensors, names) and
    ``subgraphs``. Reads the flatbuffer only (works with either LiteRT environment)."""
    from ai_edge_litert import schema_py_generated as schema

    data = bytearray(Path(path).read_bytes())
    model = schema.Model.GetRootAsModel(data, 0)
    readers: dict[int, set[int]] = {}
    for g in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(g)
        for t in range(subgraph.TensorsLength()):
            readers.setdefault(subgraph.Tensors(t).Buffer(), set()).add(g)
    total = shared = 0
    for index in range(model.BuffersLength()):
        buffer = model.Buffers(index)
        size = buffer.Size() if buffer.Offset() > 1 else buffer.DataLength()
        total += size
        shared += size if len(readers.get(index, ())) > 1 else 0
    return {"data": total, "shared": shared, "graph": len(data) - total, "subgraphs": model.SubgraphsLength()}


def embedding_lookups(model, schema):
    """(subgraph, operator) of every EMBEDDING_LOOKUP of a flatbuffer ``model``, in every signature."""
    codes = [max(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).DeprecatedBuiltinCode())
             for i in range(model.OperatorCodesLength())]
    for g in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(g)
        for o in range(subgraph.OperatorsLength()):
            op = subgraph.Operators(o)
            if codes[op.OpcodeIndex()] == schema.BuiltinOperator.EMBEDDING_LOOKUP:
                yield subgraph, op


def lookup_tables(path: Path) -> list[dict]:
    """Every table an EMBEDDING_LOOKUP reads, once per buffer, largest first: ``name``, ``type``
    (``INT4``, ``INT8``, ``FLOAT32``...), ``shape``, ``bytes`` (its stored data) and
    ``block_size`` (values sharing one scale along a row; 0: one scale per row or per tensor).
    Reads the flatbuffer only (works with either LiteRT environment)."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    data = bytearray(Path(path).read_bytes())
    model = schema.Model.GetRootAsModel(data, 0)
    type_names = {value: name for name, value in vars(schema.TensorType).items() if not name.startswith("_")}
    tables: dict[int, dict] = {}
    for subgraph, op in embedding_lookups(model, schema):
        tensor = subgraph.Tensors(op.Inputs(1))
        buffer = model.Buffers(tensor.Buffer())
        tables.setdefault(tensor.Buffer(), {
            "name": tensor.Name().decode(), "type": type_names[tensor.Type()],
            "shape": [int(d) for d in tensor.ShapeAsNumpy()],
            "bytes": buffer.Size() if buffer.Offset() > 1 else buffer.DataLength(),
            "block_size": _block_size(tensor, schema)})
    return sorted(tables.values(), key=lambda t: -int(np.prod(t["shape"])))


def _block_size(tensor, schema) -> int:
    quantization = tensor.Quantization()
    if quantization is None or quantization.DetailsType() != schema.QuantizationDetails.BlockwiseQuantization:
        return 0
    details = schema.BlockwiseQuantization()
    table = quantization.Details()
    details.Init(table.Bytes, table.Pos)
    return int(details.BlockSize())

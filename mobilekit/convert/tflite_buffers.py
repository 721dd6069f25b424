"""Weight sharing between the signatures of one .tflite file (runs in the litert-torch environment).

litert-torch writes each constant once for all signatures of a file, but ai-edge-quantizer
quantizes each signature's subgraph on its own and writes the quantized weights once per
signature (SmolLM2-135M int4: 42 MB of 147 MB were copies; an encoder with four length buckets
would carry its int8 weights four times). ``deduplicate_buffers`` points every tensor at the first
of its byte-identical buffers and drops the copies.

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

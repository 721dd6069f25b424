"""Reading a saved Core ML ML program on any OS: the package layout, the spec, constant values
and the weight blob file.

An ``.mlpackage`` is a directory: ``Manifest.json`` names the root item (the ``model.mlmodel``
protobuf, usually ``Data/com.apple.CoreML/model.mlmodel``); weights referenced as
``@model_path/weights/weight.bin`` lie in ``weights/`` beside it.

The weight file (MIL blob storage, version 2) is parsed here rather than through coremltools'
``libmilstoragepython`` so the layout is written down and checked (the tests compare this reader
with coremltools' on every constant of the converted models):

* file header, 64 bytes: ``uint32 count, uint32 version (2)``, zero padding;
* at each constant's ``offset``, a 64-byte record: ``uint32 sentinel 0xDEADBEEF, uint32 blob
  dtype, uint64 size in bytes, uint64 data offset``, padding; the data lies at ``data offset``.

Sub-byte data (uint1..uint6 lookup-table indices, int4 weights of iOS 18's
``constexpr_blockwise_shift_scale``) is packed least significant bit first.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mobilekit.errors import ModelInputError, VerificationError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

BLOB_SENTINEL = 0xDEADBEEF
BLOB_FILE_VERSION = 2
BLOB_HEADER_BYTES = 64

# MIL DataType name -> (numpy dtype name, bits per element). Sub-byte types unpack to uint8/int8.
DTYPES: dict[str, tuple[str, int]] = {
    "BOOL": ("bool", 8),
    "FLOAT16": ("float16", 16),
    "FLOAT32": ("float32", 32),
    "FLOAT64": ("float64", 64),
    "INT8": ("int8", 8),
    "INT16": ("int16", 16),
    "INT32": ("int32", 32),
    "INT64": ("int64", 64),
    "UINT8": ("uint8", 8),
    "UINT16": ("uint16", 16),
    "UINT32": ("uint32", 32),
    "UINT64": ("uint64", 64),
    "INT4": ("int8", 4),
    "UINT1": ("uint8", 1),
    "UINT2": ("uint8", 2),
    "UINT3": ("uint8", 3),
    "UINT4": ("uint8", 4),
    "UINT6": ("uint8", 6),
}
# Blob-record dtype codes, checked against the spec's declared type (seen in files coremltools
# 9.0 writes; a type missing here is read by the spec's type alone).
BLOB_DTYPE_CODES = {"FLOAT16": 1, "FLOAT32": 2, "UINT8": 3, "INT8": 4, "INT4": 8}


class MilFormatError(VerificationError):
    """The package or its program cannot be read as an ML program."""


def find_model_file(package: Path) -> Path:
    """The ``model.mlmodel`` protobuf of an ``.mlpackage`` (or the path itself for an ``.mlmodel``)."""
    package = Path(package)
    if package.is_file():
        return package
    if not package.is_dir():
        raise ModelInputError(f"{package} does not exist", hint="pass the .mlpackage directory convert_coreml wrote")
    manifest = package / "Manifest.json"
    if not manifest.is_file():
        raise MilFormatError(f"{package} has no Manifest.json, so it is not an .mlpackage")
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        entry = data["itemInfoEntries"][data["rootModelIdentifier"]]
        path = package / "Data" / entry["path"]
    except (ValueError, KeyError, TypeError) as e:
        raise MilFormatError(f"{manifest} does not name a root model: {e}") from e
    if not path.is_file():
        raise MilFormatError(f"{manifest} names {path}, which does not exist")
    return path


def load_model_spec(package: Path):
    """The ``Model_pb2.Model`` protobuf of a package (no model compilation: works on Linux)."""
    from coremltools.proto import Model_pb2

    path = find_model_file(package)
    spec = Model_pb2.Model()
    try:
        spec.ParseFromString(path.read_bytes())
    except Exception as e:  # protobuf's DecodeError
        raise MilFormatError(f"{path} is not a Core ML model protobuf: {e}") from e
    return spec


def weights_dir_of(package: Path) -> Path:
    return find_model_file(package).parent / "weights"


def dtype_name(data_type: int) -> str:
    from coremltools.proto import MIL_pb2

    return MIL_pb2.DataType.Name(data_type)


def numpy_dtype(data_type: int | str):
    import numpy as np

    name = data_type if isinstance(data_type, str) else dtype_name(data_type)
    if name not in DTYPES:
        raise MilFormatError(f"MIL data type {name} is not supported by this reader")
    return np.dtype(DTYPES[name][0])


def tensor_shape(tensor_type) -> tuple[int, ...] | None:
    """The constant shape of a ``TensorType``; None when a dimension is not constant."""
    dims = []
    for dim in tensor_type.dimensions:
        if dim.WhichOneof("dimension") != "constant":
            return None
        dims.append(int(dim.constant.size))
    return tuple(dims)


def unpack_bits(data: bytes, nbits: int, count: int, *, signed: bool = False) -> "np.ndarray":
    """``count`` elements of ``nbits`` each, packed least significant bit first."""
    import numpy as np

    raw = np.frombuffer(data, dtype=np.uint8)
    if raw.size * 8 < nbits * count:
        raise MilFormatError(f"packed data holds {raw.size * 8} bits, {nbits * count} needed")
    if 8 % nbits == 0:  # 1, 2, 4 bits: whole elements per byte, shifted out directly (LLM-size tables)
        shifts = np.arange(0, 8, nbits, dtype=np.uint8)
        values = ((raw[:, None] >> shifts) & np.uint8((1 << nbits) - 1)).reshape(-1)[:count].astype(np.uint16)
    else:
        bits = np.unpackbits(raw, bitorder="little")
        bits = bits[: nbits * count].reshape(count, nbits).astype(np.uint16)
        values = (bits << np.arange(nbits, dtype=np.uint16)).sum(axis=1)
    if signed:
        values = values.astype(np.int16)
        values[values >= 1 << (nbits - 1)] -= 1 << nbits
        return values.astype(np.int8)
    return values.astype(np.uint8)


def _from_bytes(data: bytes, name: str, shape: tuple[int, ...]) -> "np.ndarray":
    import numpy as np

    np_name, nbits = DTYPES[name]
    count = int(np.prod(shape, dtype=np.int64))
    if nbits < 8:
        return unpack_bits(data, nbits, count, signed=name == "INT4").reshape(shape)
    array = np.frombuffer(data, dtype=np.dtype(np_name).newbyteorder("<"))
    if array.size != count:
        raise MilFormatError(f"{name} data has {array.size} elements, shape {shape} needs {count}")
    return array.astype(np_name).reshape(shape)


@dataclass
class WeightFile:
    """One MIL blob storage file, read on demand."""

    path: Path

    def __post_init__(self):
        self._data = self.path.read_bytes()
        if len(self._data) < BLOB_HEADER_BYTES:
            raise MilFormatError(f"{self.path} is too short to be a MIL weight file")
        _count, version = struct.unpack_from("<II", self._data, 0)
        if version != BLOB_FILE_VERSION:
            raise MilFormatError(f"{self.path} is MIL blob storage version {version}; only {BLOB_FILE_VERSION} is read")

    def read(self, offset: int, name: str, shape: tuple[int, ...]) -> "np.ndarray":
        if offset + 24 > len(self._data):
            raise MilFormatError(f"offset {offset} lies outside {self.path}")
        sentinel, code, size, data_offset = struct.unpack_from("<IIQQ", self._data, offset)
        if sentinel != BLOB_SENTINEL:
            raise MilFormatError(f"no blob record at offset {offset} of {self.path}")
        expected = BLOB_DTYPE_CODES.get(name)
        if expected is not None and code != expected:
            raise MilFormatError(f"blob at {offset} of {self.path} has dtype code {code}; the spec says {name}")
        if data_offset + size > len(self._data):
            raise MilFormatError(f"blob at {offset} of {self.path} runs past the end of the file")
        return _from_bytes(self._data[data_offset:data_offset + size], name, shape)


class ValueReader:
    """Decodes ``MIL_pb2.Value`` messages (immediate or blob-file) into NumPy values."""

    def __init__(self, weights_dir: Path | None):
        self.weights_dir = weights_dir
        self._files: dict[str, WeightFile] = {}

    def _file(self, file_name: str) -> WeightFile:
        prefix = "@model_path/weights/"
        if not file_name.startswith(prefix) or self.weights_dir is None:
            raise MilFormatError(f"weight file reference {file_name!r} cannot be resolved")
        if file_name not in self._files:
            path = self.weights_dir / file_name[len(prefix):]
            if not path.is_file():
                raise MilFormatError(f"weight file {path} does not exist")
            self._files[file_name] = WeightFile(path)
        return self._files[file_name]

    def decode(self, value) -> Any:
        import numpy as np

        kind = value.type.WhichOneof("type")
        if kind != "tensorType":
            raise MilFormatError(f"values of type {kind} are not supported (only tensors)")
        tensor_type = value.type.tensorType
        name = dtype_name(tensor_type.dataType)
        shape = tensor_shape(tensor_type)
        if shape is None:
            raise MilFormatError(f"constant of type {name} has a non-constant shape")
        where = value.WhichOneof("value")
        if where == "blobFileValue":
            if name not in DTYPES:
                raise MilFormatError(f"blob constants of type {name} are not supported")
            return self._file(value.blobFileValue.fileName).read(value.blobFileValue.offset, name, shape)
        if where != "immediateValue":
            raise MilFormatError(f"value without data ({where})")
        tensor = value.immediateValue.tensor
        field = tensor.WhichOneof("value")
        if name == "STRING":
            strings = list(tensor.strings.values)
            return strings[0] if shape == () else np.array(strings, dtype=object).reshape(shape)
        if name not in DTYPES:
            raise MilFormatError(f"constants of type {name} are not supported")
        if field == "bytes":
            return _from_bytes(tensor.bytes.values, name, shape)
        if field is None:  # an empty tensor
            values: list = []
        else:
            values = list(getattr(tensor, field).values)
        array = np.array(values, dtype=DTYPES[name][0])
        if array.size != int(np.prod(shape, dtype=np.int64)):
            raise MilFormatError(f"{name} constant has {array.size} values, shape {shape} needs more")
        return array.reshape(shape)

"""Checks on a model folder's weight files that need no ML library: a truncated or corrupt
safetensors file is a user's input problem (exit 4), found before any framework tries to load it."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from mobilekit.errors import ModelInputError

_HINT = "the file is truncated or corrupt (an interrupted download or copy?); save the folder again with save_pretrained()"
_MAX_HEADER = 100 * 1024 * 1024  # what the safetensors format itself allows


def check_safetensors_files(model_dir: Path) -> None:
    """Every ``*.safetensors`` file in ``model_dir``: its header parses and its size is what the
    header says (8 bytes of length, the JSON header, then every tensor's data)."""
    for path in sorted(Path(model_dir).glob("*.safetensors")):
        check_safetensors(path)


def check_safetensors(path: Path) -> None:
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            prefix = f.read(8)
            if len(prefix) < 8:
                raise ValueError(f"{size} bytes, shorter than the 8-byte header length")
            (header_length,) = struct.unpack("<Q", prefix)
            if header_length > min(_MAX_HEADER, size - 8):
                raise ValueError(f"its header claims {header_length} bytes, the file has {size}")
            header = json.loads(f.read(header_length).decode("utf-8"))
        end = max((int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"), default=0)
    except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError) as e:
        raise ModelInputError(f"{path} is not a readable safetensors file: {e}", hint=_HINT) from e
    expected = 8 + header_length + end
    if size != expected:
        raise ModelInputError(f"{path} has {size} bytes but its header describes {expected}", hint=_HINT)

"""Which function (and which kind of operation) executed each counted ARM64 instruction.

The plugin reports instructions per translated-block start address; the guest reports its
``/proc/self/maps``. An address is mapped to (library, offset), the offset to the function that
contains it through the library's ELF symbol table (LiteRT's aarch64 wheel ships an unstripped
``libpywrap_litert_common.so``: TFLite kernels and XNNPACK micro-kernels keep their names), and
the function name to an operation group. Only the standard library is used: a 64-bit
little-endian ELF reader is a few dozen lines.
"""

from __future__ import annotations

import bisect
import re
import struct
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Mapping:
    start: int
    end: int
    offset: int
    path: str


def parse_maps(text: str) -> list[Mapping]:
    """Executable file mappings from a ``/proc/<pid>/maps`` text."""
    mappings = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 6 or "x" not in parts[1] or not parts[5].startswith("/"):
            continue
        start, end = (int(x, 16) for x in parts[0].split("-"))
        mappings.append(Mapping(start, end, int(parts[2], 16), parts[5].strip()))
    return sorted(mappings, key=lambda m: m.start)


class ElfSymbols:
    """Function symbols of one ELF64 little-endian file, looked up by file offset."""

    def __init__(self, path: Path):
        data = Path(path).read_bytes()
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise ValueError(f"{path} is not a 64-bit little-endian ELF file")
        e_phoff, e_shoff = struct.unpack_from("<QQ", data, 0x20)
        e_phentsize, e_phnum, e_shentsize, e_shnum = struct.unpack_from("<HHHH", data, 0x36)
        # PT_LOAD segments translate file offsets (what maps gives) into symbol addresses.
        self.segments = []
        for i in range(e_phnum):
            p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = struct.unpack_from("<IIQQQQ", data, e_phoff + i * e_phentsize)
            if p_type == 1:
                self.segments.append((p_offset, p_offset + p_filesz, p_vaddr))
        sections = [struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + i * e_shentsize) for i in range(e_shnum)]
        symbols = {}
        for kind in (2, 11):  # SHT_SYMTAB (full), then SHT_DYNSYM (exported only)
            for _name, sh_type, _f, _a, sh_offset, sh_size, sh_link, _i, _al, sh_entsize in sections:
                if sh_type != kind or not sh_entsize:
                    continue
                strtab_offset = sections[sh_link][4]
                for j in range(sh_size // sh_entsize):
                    st_name, st_info, _other, st_shndx, st_value, st_size = struct.unpack_from("<IBBHQQ", data, sh_offset + j * sh_entsize)
                    if st_info & 0xF not in (2, 10) or not st_value or st_shndx == 0:  # STT_FUNC or GNU_IFUNC, defined
                        continue
                    end = data.index(b"\0", strtab_offset + st_name)
                    symbols.setdefault(st_value, (st_size, data[strtab_offset + st_name:end].decode("utf-8", "replace")))
            if symbols:
                break
        self.addresses = sorted(symbols)
        self.entries = [symbols[a] for a in self.addresses]

    def lookup(self, file_offset: int) -> str | None:
        address = None
        for start, end, vaddr in self.segments:
            if start <= file_offset < end:
                address = file_offset - start + vaddr
                break
        if address is None:
            return None
        i = bisect.bisect_right(self.addresses, address) - 1
        if i < 0:
            return None
        size, name = self.entries[i]
        if size and address >= self.addresses[i] + size:
            return None
        return name


def resolve_path(path: str, sysroot: Path) -> Path:
    """A guest path: qemu's -L prefix holds the system libraries, other paths are host paths."""
    inside = sysroot / path.lstrip("/")
    return inside if inside.exists() else Path(path)


def attribute(blocks: dict[int, int], maps_text: str, sysroot: Path) -> dict[str, dict[str, int]]:
    """{group: {function: instructions}} for instructions counted per block start address."""
    mappings = parse_maps(maps_text)
    starts = [m.start for m in mappings]
    elves: dict[str, ElfSymbols | None] = {}
    groups: dict[str, dict[str, int]] = {}
    for address, count in blocks.items():
        i = bisect.bisect_right(starts, address) - 1
        mapping = mappings[i] if i >= 0 and address < mappings[i].end else None
        function, library = None, "?"
        if mapping is not None:
            library = Path(mapping.path).name
            if mapping.path not in elves:
                try:
                    elves[mapping.path] = ElfSymbols(resolve_path(mapping.path, sysroot))
                except (OSError, ValueError, struct.error, IndexError):
                    elves[mapping.path] = None
            elf = elves[mapping.path]
            if elf is not None:
                function = elf.lookup(address - mapping.start + mapping.offset)
        group = operation_group(function, library)
        name = readable_name(function) if function else f"({library})"
        bucket = groups.setdefault(group, {})
        bucket[name] = bucket.get(name, 0) + count
    return groups


# Function name -> operation group. XNNPACK micro-kernels are named after what they compute
# (xnn_f32_gemm_..., xnn_f32_vadd_..., xnn_f32_raddstoreexpminusmax_...); TFLite's own kernels
# live in namespaces named after the op (tflite::ops::builtin::fully_connected).
_XNN_GROUPS = (
    (r"gemm|igemm|ppmm|spmm|gemv|batch_matrix|fully_connected", "matrix multiply (fully connected, batch matmul)"),
    (r"raddstoreexpminusmax|rmax|vexp|softmax|raddextexp", "softmax"),
    (r"rsum|rdsum|rminmax|reduce|mean|normalize|rmsnorm|layernorm", "reductions (mean, layer norm)"),
    (r"vtanh|vsigmoid|velu|vgelu|verf|vlrelu|vrelu|vclamp|vhswish|vsqrt|vrsqrt|vabs|vneg|vsquare|vapproxgelu|vlog", "activations and unary math"),
    (r"vadd|vsub|vmul|vdiv|vmax|vmin|vsqrdiff|vbinary|vprelu|vcopysign|vpow", "element-wise arithmetic"),
    (r"transpose|copy|pad|zip|unpool|fill|slice|concat|even_split|gather|memcpy|memset", "data movement (transpose, copy, gather)"),
    (r"pack|packw|packx|packb|pack_lh|pack_weights", "weight and input packing"),
    (r"cvt|qu8|qs8_to|f32_to|f16_to|quantize|dequantize", "type conversion and (de)quantization"),
)


HARNESS = "Python harness and markers"


def _is_harness_library(library: str) -> bool:
    return library.startswith(("libpython", "python", "_ctypes", "libffi")) or "numpy" in library or "_multiarray" in library


def operation_group(function: str | None, library: str) -> str:
    if _is_harness_library(library):
        return HARNESS
    if function is None:
        # glibc's string and memory routines are local (ifunc-selected) symbols: stripped.
        return "C library (memcpy, malloc, ...)" if library.startswith("libc.") else f"other code ({library})"
    name = function
    if name.startswith("kai_"):  # Arm KleidiAI micro-kernels, called by XNNPACK on dotprod/i8mm cores
        if "matmul" in name:
            return "matrix multiply (fully connected, batch matmul)"
        return "type conversion and (de)quantization" if "quant" in name else "weight and input packing"
    if name.startswith("xnn_") or name.startswith("pthreadpool"):
        for pattern, group in _XNN_GROUPS:
            if re.search(pattern, name):
                return group
        return "XNNPACK runtime"
    if library.startswith("libc.") or name in ("memcpy", "memset", "memmove") or name.startswith(("__memcpy", "__memset", "__memmove")):
        return "C library (memcpy, malloc, ...)"
    builtin = re.search(r"6tflite3ops7builtin(\d+)", name)  # also inside lambdas and std::function
    if builtin:
        length = int(builtin.group(1))
        return f"TFLite kernel: {name[builtin.end():builtin.end() + length].upper()}"
    parts = demangled_scope(name)
    if parts[:1] == ["tflite"] and any("Quantized" in p or "Multiplier" in p for p in parts[1:]):
        return "quantized arithmetic helpers (requantization)"
    if parts[:1] == ["tflite"] and len(parts) >= 2 and parts[1] in ("optimized_ops", "reference_ops", "optimized_integer_ops", "reference_integer_ops", "tensor_utils"):
        return f"TFLite kernel library: {parts[-1] if len(parts) > 2 else parts[1]}"
    if parts[:1] in (["ruy"], ["gemmlowp"], ["Eigen"]):
        return "matrix multiply (fully connected, batch matmul)"
    if parts[:1] == ["tflite"]:
        return "TFLite runtime (interpreter, delegate glue)"
    return f"other code ({library})"


def demangled_scope(mangled: str) -> list[str]:
    """The namespace/class path of an Itanium-mangled nested name (``_ZN6tflite3ops...E``)."""
    match = re.match(r"_ZN(?:K|V|r)*", mangled)
    if not match:
        return [mangled]
    i, parts = match.end(), []
    while i < len(mangled) and mangled[i].isdigit():
        j = i
        while j < len(mangled) and mangled[j].isdigit():
            j += 1
        length = int(mangled[i:j])
        parts.append(mangled[j:j + length])
        i = j + length
    return [p for p in parts if not p.startswith("_GLOBAL__N")]


def readable_name(function: str) -> str:
    parts = demangled_scope(function)
    return "::".join(parts) if function.startswith("_ZN") and parts else function

"""ARM64 emulator tier: LiteRT's aarch64 runtime under qemu user mode, instructions counted.

What is measured, per TFLite variant:

* ARM64 instructions executed per inference: the ``insn_count.c`` TCG plugin counts the
  instructions between two marker syscalls the guest makes around ``Interpreter.invoke()``
  (after warm-up). The markers' own cost, measured in empty windows, is subtracted. The guest runs
  one thread, so the count does not depend on the host's load: the whole guest is run twice and
  the two lists of counts must be identical (``deterministic``).
* Whether the ARM outputs match the host's (same runtime version on both sides is not required;
  the tolerance is relative to the output's magnitude).
* A per-operation breakdown: every counted instruction is attributed to the function it belongs
  to (LiteRT's aarch64 library keeps its symbol table) and grouped by operation.
* Emulated wall time, only as a diagnostic: it is 20-550x slower than a phone and not
  proportional across models, so it is never reported as latency.

The CPU is pinned to a real phone core (``-cpu cortex-a76`` or ``cortex-a53``): with ``-cpu max``
XNNPACK would pick SVE2/SME kernels no phone has.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mobilekit import variants as _v
from mobilekit.errors import InternalError, ToolMissingError
from mobilekit.toolchains.process import ProcessFailed, run, which
from mobilekit.toolchains.tools import arm64_sysroot_path, mobilekit_home, setup_command, tool

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

EMPTY_WINDOWS = 3
GUEST_TIMEOUT_S = 3600
# ARM vs host outputs: XNNPACK picks different kernels (and summation orders) on each side.
# float variants agree to ~1e-6; int8 variants can differ by a quantization step in a few places.
# int4-weights (encoders: the int4 word table of dynamic-int8-int4emb) as int8 weights: its table rows
# are unpacked exactly on either side, only the int8 layers' kernels differ.
ARM_FAMILY_TOLERANCE = {_v.FAMILY_FLOAT32: 1e-4, _v.FAMILY_FLOAT16: 1e-3, _v.FAMILY_INT8_WEIGHTS: 2e-2,
                        _v.FAMILY_INT8_FULL: 2e-2, _v.FAMILY_INT4_WEIGHTS: 2e-2}
# Per encoder TFLite variant, by its registry family (others: 1e-3).
ARM_TOLERANCE = {v.name: ARM_FAMILY_TOLERANCE[v.family] for v in _v.variants(_v.TFLITE, _v.ENCODER)
                 if v.family in ARM_FAMILY_TOLERANCE}
TOP_FUNCTIONS = 3


@dataclass
class GuestRun:
    windows: list[int]  # instructions per inference window, markers subtracted
    marker_cost: int
    blocks: dict[int, int]
    maps: str
    outputs: "np.ndarray"
    wall_s: list[float]
    load_s: float
    op_counts: dict[str, int]
    incomplete: bool
    seconds: float
    litert_version: str = "unknown"


@dataclass
class Emulator:
    """A checked qemu-aarch64 + sysroot + plugin, ready to run the guest script."""

    qemu: Path
    sysroot: Path
    plugin: Path
    cpu: str
    qemu_version: str
    litert_version: str
    log: Any = None
    runs_done: list = field(default_factory=list)

    def describe(self) -> dict:
        return {"qemu": self.qemu_version, "cpu": self.cpu, "litert_aarch64": self.litert_version,
                "sysroot": str(self.sysroot), "plugin": str(self.plugin)}

    def run_guest(self, model: Path, inputs_npz: Path, *, warmup: int, runs: int, xnnpack: bool = True,
                  signature: str | None = None) -> GuestRun:
        request = {"model": str(Path(model).resolve()), "inputs": str(Path(inputs_npz).resolve()), "warmup": warmup,
                   "runs": runs, "xnnpack": xnnpack, "signature": signature}
        return self.run_script("litert_guest.py", model, request, windows=runs)

    def run_script(self, script: str, model: Path, request: dict, *, windows: int) -> GuestRun:
        """Runs ``script`` (a guest script in this package) on ``request`` plus the paths it writes
        to; ``windows``: the counted windows it must report after the empty ones."""
        import numpy as np

        with tempfile.TemporaryDirectory(prefix="mobilekit-arm-") as tmp:
            tmp = Path(tmp)
            request = {**request, "outputs": str(tmp / "outputs.npy"), "result": str(tmp / "result.json"),
                       "empty_windows": EMPTY_WINDOWS}
            (tmp / "request.json").write_text(json.dumps(request))
            counts = tmp / "counts.txt"
            guest = resources.files("mobilekit.bench").joinpath(script)
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(self.sysroot / "opt" / "site"),
                   "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
                   "PYTHONHASHSEED": "0",  # str hashing order changes the Python-side instruction count
                   "TF_CPP_MIN_LOG_LEVEL": "2", "HOME": str(tmp)}
            argv = [self.qemu, "-L", self.sysroot, "-cpu", self.cpu, "-plugin", f"{self.plugin},out={counts}",
                    self.sysroot / "usr" / "bin" / "python3.11", str(guest), tmp / "request.json"]
            started = time.monotonic()
            try:
                run(argv, env=env, timeout=GUEST_TIMEOUT_S, cwd=tmp)
            except ProcessFailed as e:
                raise InternalError(f"the ARM64 guest failed on {Path(model).name} ({e.returncode}): {e.output.strip().splitlines()[-1:] or ''}",
                                     hint="run `mobilekit doctor`; the full output is in the build log") from e
            seconds = time.monotonic() - started
            counted, blocks, incomplete = parse_counts(counts.read_text())
            result = json.loads((tmp / "result.json").read_text())
            outputs = np.load(tmp / "outputs.npy")
        if len(counted) != EMPTY_WINDOWS + windows:
            raise InternalError(f"the instruction counter saw {len(counted)} windows, expected {EMPTY_WINDOWS + windows}",
                                 hint="is another plugin or a second guest thread interfering?")
        marker = min(counted[:EMPTY_WINDOWS])
        return GuestRun(windows=[w - marker for w in counted[EMPTY_WINDOWS:]], marker_cost=marker, blocks=blocks,
                        maps=result["maps"], outputs=outputs, wall_s=result["wall_s"], load_s=result["load_s"],
                        op_counts=result.get("op_counts") or {}, incomplete=incomplete, seconds=seconds,
                        litert_version=result.get("litert_version", "unknown"))


def parse_counts(text: str) -> tuple[list[int], dict[int, int], bool]:
    """The plugin's output file -> (window counts in order, {block address: instructions}, incomplete)."""
    windows, blocks, incomplete = [], {}, False
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "window":
            windows.append(int(parts[2]))
        elif parts[0] == "block":
            blocks[int(parts[1], 16)] = int(parts[2])
        elif parts[0] == "incomplete":
            incomplete = parts[1] != "0"
    return windows, blocks, incomplete


# -- setup -----------------------------------------------------------------------------------


def plugin_source() -> str:
    return resources.files("mobilekit.bench").joinpath("insn_count.c").read_text(encoding="utf-8")


def build_plugin(qemu_version: str) -> Path:
    """Compile the counting plugin once per (source, qemu version); cached under MOBILEKIT_HOME."""
    source = plugin_source()
    key = hashlib.sha256(f"{qemu_version}\n{source}".encode()).hexdigest()[:16]
    target = mobilekit_home() / "arm64" / "plugins" / f"insn_count-{key}.so"
    if target.is_file():
        return target
    gcc = which("gcc") or which("cc")
    if gcc is None:
        raise ToolMissingError("a C compiler (gcc) is needed to build the instruction-counting qemu plugin",
                               hint="install it with: apt-get install -y gcc")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        src = Path(tmp) / "insn_count.c"
        src.write_text(source, encoding="utf-8")
        out = Path(tmp) / target.name
        try:
            run([gcc, "-shared", "-fPIC", "-O2", "-Wall", "-o", out, src, "-lpthread"], timeout=120)
        except ProcessFailed as e:
            raise ToolMissingError(f"building the qemu plugin failed: {e}",
                                   hint="the emulator needs gcc and the qemu plugin headers: bash setup/install.sh emulator") from e
        os.replace(out, target)  # atomic: a concurrent build never sees half a library
    return target


def prepare_emulator(cpu: str, log=None) -> Emulator:
    """Check qemu and the sysroot (installed by setup), build the plugin; ToolMissingError if absent."""
    qemu_status = tool("qemu-aarch64").verify()
    sysroot_status = tool("arm64 sysroot + LiteRT").verify()
    sysroot = arm64_sysroot_path()
    if not (sysroot / "proc" / "cpuinfo").is_file():
        # Without it qemu passes the host's x86 cpuinfo through and LiteRT's CPU detection crashes.
        raise ToolMissingError(f"the arm64 sysroot at {sysroot} has no ARM proc/cpuinfo", hint=f"reinstall it with: {setup_command('arm64')}")
    if not (sysroot / "usr" / "bin" / "python3.11").exists():
        raise ToolMissingError(f"the arm64 sysroot at {sysroot} has no python3.11", hint=f"reinstall it with: {setup_command('arm64')}")
    qemu = Path(qemu_status.location)
    plugin = build_plugin(qemu_status.version or "unknown")
    return Emulator(qemu=qemu, sysroot=sysroot, plugin=plugin, cpu=cpu, qemu_version=qemu_status.version or "?",
                    litert_version=(sysroot_status.version or "?").removesuffix(".dist"), log=log)


# -- one variant -----------------------------------------------------------------------------


def emulate_variant(emulator: Emulator, variant: str, model: Path, inputs_npz: Path, host_outputs: "np.ndarray", *,
                    warmup: int, runs: int, repeats: int = 2, signature: str | None = None) -> dict:
    """Count instructions ``repeats`` times, compare ARM with x86 outputs, break the count down.
    ``signature``: one signature of a file with several (a length bucket); default the main graph.

    The ARM outputs are judged against the same guest script run natively on x86 by the same
    LiteRT version as the guest's (the litert-torch environment's), so the check isolates the
    architecture: LiteRT 2.1 (the host runtime, ``host_outputs``) and 2.3 round int8 differently
    on x86 alone (MiniLM full-int8: 0.29 apart, both on x86). Without that environment, the host
    runtime is the reference, as ``outputs_reference`` says; the host-runtime difference is
    always recorded (``arm_vs_host_runtime_max_abs_diff``).
    """
    import numpy as np

    from mobilekit.bench.symbols import HARNESS, attribute

    guest_runs = [emulator.run_guest(model, inputs_npz, warmup=warmup, runs=runs, signature=signature)
                  for _ in range(repeats)]
    first = guest_runs[0]
    per_inference = [int(w) for w in first.windows]
    deterministic = all(g.windows == first.windows for g in guest_runs[1:])
    arm = first.outputs.astype(np.float32)
    host = np.asarray(host_outputs[: len(arm)], dtype=np.float32)
    host_diff = float(np.max(np.abs(arm - host))) if host.size else float("nan")
    native = native_outputs(model, inputs_npz, runs=runs, signature=signature)
    if native is not None and native[1] == first.litert_version:
        expected, reference = native[0][: len(arm)], f"x86, LiteRT {native[1]} (the guest's version)"
    else:
        expected, reference = host, "the host runtime (LiteRT of the main environment)"
    diff = float(np.max(np.abs(arm - expected))) if expected.size else float("nan")
    tolerance = ARM_TOLERANCE.get(variant, 1e-3) * max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)

    groups = attribute(first.blocks, first.maps, emulator.sysroot)
    runtime_total = sum(sum(f.values()) for g, f in groups.items() if g != HARNESS) or 1
    breakdown = []
    for group, functions in sorted(groups.items(), key=lambda kv: -sum(kv[1].values())):
        if group == HARNESS:
            continue
        total = sum(functions.values())
        top = sorted(functions.items(), key=lambda kv: -kv[1])[:TOP_FUNCTIONS]
        breakdown.append({"group": group, "instructions_per_inference": total / runs, "share": total / runtime_total,
                          "top_functions": [{"name": n, "instructions_per_inference": c / runs} for n, c in top]})
    return {
        "instructions_per_inference": statistics.median(per_inference),
        "instructions_min": min(per_inference),
        "instructions_max": max(per_inference),
        "instructions_per_run": per_inference,
        "repeats": repeats,
        "deterministic": deterministic,
        "repeat_counts": [g.windows for g in guest_runs],
        "marker_cost": first.marker_cost,
        "arm_vs_host_max_abs_diff": diff,
        "arm_vs_host_tolerance": tolerance,
        "outputs_match": bool(diff <= tolerance),
        "outputs_reference": reference,
        "arm_vs_host_runtime_max_abs_diff": host_diff,
        "breakdown": breakdown,
        "breakdown_incomplete": first.incomplete,
        "op_counts": first.op_counts,
        "diagnostic_emulated_wall_ms_per_inference": 1000 * statistics.median(first.wall_s),
        "diagnostic_emulated_load_ms": 1000 * first.load_s,
        "guest_seconds": [round(g.seconds, 1) for g in guest_runs],
    }


def native_outputs(model: Path, inputs_npz: Path, *, runs: int, signature: str | None = None):
    """(outputs, LiteRT version) of the guest script run natively by the litert-torch environment's
    Python (x86, the LiteRT version the converter and the ARM64 guest use), or None when that
    environment is not installed or the run fails (the host runtime is then the reference)."""
    import numpy as np

    from mobilekit.convert.litert_torch import litert_torch_python
    from mobilekit.errors import MobilekitError

    try:
        python = litert_torch_python()
    except MobilekitError:
        return None
    with tempfile.TemporaryDirectory(prefix="mobilekit-x86-") as tmp:
        tmp = Path(tmp)
        request = {"model": str(Path(model).resolve()), "inputs": str(Path(inputs_npz).resolve()), "warmup": 1,
                   "runs": runs, "xnnpack": True, "signature": signature, "outputs": str(tmp / "outputs.npy"),
                   "result": str(tmp / "result.json"), "empty_windows": 0}
        (tmp / "request.json").write_text(json.dumps(request))
        guest = resources.files("mobilekit.bench").joinpath("litert_guest.py")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OMP_NUM_THREADS": "1", "HOME": str(tmp),
               "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            run([str(python), str(guest), str(tmp / "request.json")], env=env, timeout=GUEST_TIMEOUT_S, cwd=tmp)
        except ProcessFailed:
            return None
        version = json.loads((tmp / "result.json").read_text()).get("litert_version", "unknown")
        return np.load(tmp / "outputs.npy"), version


def qemu_available() -> str | None:
    """None when the emulator tier can run here, else why not (for a clear skip message)."""
    try:
        tool("qemu-aarch64").verify()
        tool("arm64 sysroot + LiteRT").verify()
    except ToolMissingError as e:
        return f"{e.message} ({e.hint})"
    return None



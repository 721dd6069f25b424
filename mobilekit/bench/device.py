"""Device tier: an attached Android device (or emulator) running the user's ``benchmark_model``.

When ``adb devices`` lists a device, each TFLite variant and the user-supplied ``benchmark_model``
binary (TensorFlow Lite's native benchmark tool, built for the device's ABI) are pushed to
``/data/local/tmp/mobilekit``, run with one thread and XNNPACK, and its summary lines parsed:

    Inference timings in us: Init: 52301, First inference: 48125, Warmup (avg): 41950.2, Inference (avg): 41234.5
    count=50 first=... curr=... min=... max=... avg=... std=... p5=... median=... p95=...
    Memory footprint delta from the start of the tool (MB): init=40.18 overall=52.63
    Overall peak memory footprint (MB) via periodic monitoring: 60.02

Without adb, without a device, or without a configured binary the tier is skipped with a reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mobilekit.errors import ToolMissingError
from mobilekit.toolchains.process import ProcessFailed, run, which

REMOTE_DIR = "/data/local/tmp/mobilekit"
_NUMBER = r"([-+]?[\d.]+(?:[eE][-+]?\d+)?)"


@dataclass(frozen=True)
class Device:
    serial: str
    state: str
    description: str


def parse_adb_devices(output: str) -> list[Device]:
    """``adb devices -l`` output -> the devices in state 'device' (ready), in order."""
    devices = []
    for line in output.splitlines():
        line = line.strip()
        if not line or line.startswith(("List of devices", "*")):
            continue
        parts = line.split()
        if len(parts) >= 2 and parts[1] == "device":
            devices.append(Device(parts[0], parts[1], " ".join(parts[2:])))
    return devices


def parse_benchmark_output(text: str) -> dict:
    """The figures of one benchmark_model run (microseconds and MB as printed, converted to ms/bytes)."""
    result: dict = {}
    summary = re.search(rf"Inference timings in us: Init: {_NUMBER}, First inference: {_NUMBER}, "
                        rf"Warmup \(avg\): {_NUMBER}, Inference \(avg\): {_NUMBER}", text)
    if not summary:
        raise ToolMissingError("benchmark_model printed no 'Inference timings in us' line",
                             hint="is the binary TensorFlow Lite's benchmark_model, and did the model load? See the build log")
    init, first, warmup, avg = (float(x) for x in summary.groups())
    result.update({"init_ms": init / 1000, "first_inference_ms": first / 1000, "warmup_avg_ms": warmup / 1000,
                   "inference_avg_ms": avg / 1000})
    # The last "count=" line is the measured run (the first one is the warm-up).
    counts = re.findall(r"^(?:\w+:\s*)?count=(\d+)(.*)$", text, re.M)
    if counts:
        count, rest = counts[-1]
        fields = dict(re.findall(rf"(\w+)={_NUMBER}", rest))
        result["runs"] = int(count)
        for name, key in (("min", "min_ms"), ("max", "max_ms"), ("std", "std_ms"), ("median", "p50_ms"), ("p5", "p5_ms"), ("p95", "p95_ms")):
            if name in fields:
                result[key] = float(fields[name]) / 1000
    memory = re.search(rf"Memory footprint delta from the start of the tool \(MB\): init={_NUMBER} overall={_NUMBER}", text) or \
        re.search(rf"Peak memory footprint \(MB\): init={_NUMBER} overall={_NUMBER}", text)
    if memory:
        result["memory_init_bytes"] = int(float(memory.group(1)) * 2**20)
        result["memory_overall_bytes"] = int(float(memory.group(2)) * 2**20)
    peak = re.search(rf"Overall peak memory footprint \(MB\) via periodic monitoring: {_NUMBER}", text)
    if peak:
        result["peak_memory_bytes"] = int(float(peak.group(1)) * 2**20)
    size = re.search(rf"The input model file size \(MB\): {_NUMBER}", text)
    if size:
        result["model_file_mb"] = float(size.group(1))
    return result


def device_skip_reason(benchmark_model: Path | None) -> tuple[str | None, list[Device]]:
    """(None, devices) when the tier can run, else (why not, [])."""
    adb = which("adb")
    if adb is None:
        return "adb is not installed (apt-get install -y adb, then attach a device with USB debugging on)", []
    try:
        devices = parse_adb_devices(run([adb, "devices", "-l"], timeout=30))
    except ProcessFailed as e:
        return f"`adb devices` failed: {str(e).splitlines()[0]}", []
    if not devices:
        return "`adb devices` lists no device or emulator", []
    if benchmark_model is None:
        return ("a device is attached but bench.benchmark_model is not set (point it at TensorFlow Lite's "
                "benchmark_model binary built for the device)", devices)
    if not Path(benchmark_model).is_file():
        return f"bench.benchmark_model {benchmark_model} does not exist", devices
    return None, devices


def run_on_device(device: Device, benchmark_model: Path, models: dict[str, Path], *, runs: int, warmup: int) -> dict:
    """Push the binary and each model, run benchmark_model, parse; {variant: figures}."""
    adb = str(which("adb"))
    serial = ["-s", device.serial]

    def adb_run(*args, timeout=600):
        try:
            return run([adb, *serial, *args], timeout=timeout)
        except ProcessFailed as e:
            raise ToolMissingError(f"adb {' '.join(args[:2])} failed on {device.serial}: {str(e).splitlines()[0]}") from e

    adb_run("shell", "mkdir", "-p", REMOTE_DIR)
    adb_run("push", str(benchmark_model), f"{REMOTE_DIR}/benchmark_model")
    adb_run("shell", "chmod", "755", f"{REMOTE_DIR}/benchmark_model")
    abi = adb_run("shell", "getprop", "ro.product.cpu.abi").strip()
    model_name = adb_run("shell", "getprop", "ro.product.model").strip()
    results = {}
    for variant, path in models.items():
        remote = f"{REMOTE_DIR}/{Path(path).name}"
        adb_run("push", str(path), remote)
        output = adb_run("shell", f"{REMOTE_DIR}/benchmark_model", f"--graph={remote}", "--num_threads=1",
                         "--use_xnnpack=true", f"--num_runs={runs}", f"--warmup_runs={warmup}",
                         "--report_peak_memory_footprint=true", timeout=1800)
        results[variant] = {**parse_benchmark_output(output), "raw_tail": output.strip().splitlines()[-6:]}
        adb_run("shell", "rm", "-f", remote)
    return {"device": {"serial": device.serial, "model": model_name, "abi": abi, "description": device.description},
            "variants": results}

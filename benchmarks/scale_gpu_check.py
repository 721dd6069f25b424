"""UNTESTED ON A GPU (this task had no GPU machine): the distill stage with nccl and bf16.

Run from the repository root on a CUDA machine:  python benchmarks/scale_gpu_check.py [PROCESSES]
It writes a tiny fine-tune + distill project (the test suite's tiny BERT, built locally, so no
download), builds it with compute.backend = "nccl", precision = "bf16" and one process per GPU,
then builds it again with processes = 1 (fp32, on the CPU, in-process) and prints how far the two
students are apart. Exit 0 when the GPU build succeeded and its student is within 0.05 of the CPU
one (bf16 autocast is not bitwise fp32).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build(root: Path, compute: dict) -> Path:
    from tests.scale.helpers import make_project

    path = make_project(root, dropout=False, distill=True, compute=compute)
    done = subprocess.run([sys.executable, "-m", "mobilekit", "build", "-c", str(path), "--to", "distill"], cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"build failed ({compute}): exit {done.returncode}")
    return root / "build"


def main() -> int:
    import torch

    from tests.scale.helpers import weights

    if not torch.cuda.is_available():
        sys.exit("no CUDA GPU here: this check needs one")
    processes = int(sys.argv[1]) if len(sys.argv) > 1 else torch.cuda.device_count()
    work = Path(tempfile.mkdtemp(prefix="mobilekit-gpu-"))
    gpu = build(work / "gpu", {"backend": "nccl", "precision": "bf16", "processes": processes})
    cpu = build(work / "cpu", {"processes": 1})
    a, b = weights(gpu / "distill" / "model"), weights(cpu / "distill" / "model")
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    metrics = json.loads((gpu / "manifest.json").read_text())["stages"]["distill"]["metrics"]
    print(json.dumps({"processes": processes, "max_abs_weight_diff_vs_cpu_fp32": worst, "epochs": metrics["epochs"]}, indent=2))
    return 0 if worst < 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())

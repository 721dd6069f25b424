"""What a training loop is handed besides its data: the world, checkpoints and arithmetic.

The default (one process, no checkpoints, fp32 on the CPU) is what training always was.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field

from mobilekit.scale.checkpoint import Checkpoints
from mobilekit.scale.world import SINGLE, World

AUTOCAST_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}


@dataclass(frozen=True)
class TrainRuntime:
    world: World = field(default_factory=lambda: SINGLE)
    checkpoints: Checkpoints | None = None
    precision: str = "fp32"  # fp32 | bf16 | fp16 (autocast on CUDA only; checked with the config)

    def autocast(self):
        """The forward pass's arithmetic: autocast to bf16/fp16 on a GPU, plain fp32 otherwise."""
        if self.precision == "fp32":
            return nullcontext()
        import torch

        return torch.autocast(device_type="cuda", dtype=getattr(torch, AUTOCAST_DTYPES[self.precision]))

    def grad_scaler(self):
        """fp16 needs loss scaling (its range underflows small gradients); bf16 and fp32 do not."""
        import torch

        return torch.amp.GradScaler("cuda", enabled=self.precision == "fp16")


def capture_rng(world: World) -> list:
    """Every rank's torch RNG states (CPU, and CUDA when used), in rank order."""
    import torch

    mine = {"cpu": torch.get_rng_state()}
    if world.device.startswith("cuda"):
        mine["cuda"] = torch.cuda.get_rng_state()
    return world.gather(mine)


def restore_rng(world: World, states: list) -> bool:
    """Puts this rank's saved RNG state back (dropout masks continue as if never stopped);
    False when the saved run had another number of ranks."""
    import torch

    if len(states) != world.size:
        return False
    mine = states[world.rank]
    torch.set_rng_state(mine["cpu"])
    if "cuda" in mine and world.device.startswith("cuda"):
        torch.cuda.set_rng_state(mine["cuda"])
    return True

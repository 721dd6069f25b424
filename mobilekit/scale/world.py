"""This process's place among the training ranks, and the few collectives the loop needs.

A single process is a world of one whose collectives do nothing, so the training loop has one
code path. Gradients travel as one flat buffer per step (with the batch loss riding along),
summed across ranks: each rank has already weighted its share of the global batch, so the sum
is the gradient of the global batch's mean loss, whatever the number of ranks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Global rank 0: validates, reports progress and metrics."""
        return self.rank == 0

    @property
    def writes_files(self) -> bool:
        """Each machine's first process writes into that machine's build directory (the weights
        are identical on every rank, and each node's `mobilekit build` continues from its own)."""
        return self.local_rank == 0

    def shard(self, items: Sequence) -> list:
        """This rank's share of a global batch: every size-th item (equal shares, balanced lengths)."""
        return list(items[self.rank :: self.size])

    def sum_gradients(self, parameters, extra: float) -> float:
        """Sums every parameter's gradient (None counts as absent) and ``extra`` over the ranks."""
        if not self.distributed:
            return extra
        import torch
        import torch.distributed as dist

        grads = [p.grad for p in parameters]
        # A rank whose share of the batch was empty has no gradients: it sends zeros, and a
        # parameter no rank touched keeps grad None (AdamW then leaves it alone, as in one process).
        parts = [g.reshape(-1).float() if g is not None else torch.zeros(p.numel(), device=self.device)
                 for p, g in zip(parameters, grads)]
        flags = torch.tensor([0.0 if g is None else 1.0 for g in grads] + [extra], device=self.device)
        payload = torch.cat(parts + [flags])
        dist.all_reduce(payload)
        offset, seen = 0, payload[payload.numel() - len(grads) - 1 : -1].tolist()
        for p, touched in zip(parameters, seen):
            n = p.numel()
            p.grad = payload[offset : offset + n].view_as(p).to(p.dtype).clone() if touched > 0 else None
            offset += n
        return float(payload[-1])

    def broadcast(self, value):
        """Rank 0's ``value`` on every rank (a validation score: every rank decides alike)."""
        if not self.distributed:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value) -> list:
        """Every rank's ``value``, in rank order."""
        if not self.distributed:
            return [value]
        import torch.distributed as dist

        out = [None] * self.size
        dist.all_gather_object(out, value)
        return out

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()


SINGLE = World()

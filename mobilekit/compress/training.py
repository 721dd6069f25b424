"""The training loop fine-tuning and distillation share: AdamW, linear warm-up and decay,
reproducible shuffling, per-epoch validation, keeping the best epoch, early stopping."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Callable

from mobilekit.compress.batches import batch_indices
from mobilekit.progress import Progress

WARMUP_FRACTION = 0.1


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)  # per epoch: epoch, train_loss, validation
    best_epoch: int = 0
    stopped_early: bool = False


def train(
    model,
    *,
    n: int,
    step_loss: Callable[[list[int]], "object"],
    validate: Callable[[], float] | None,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    patience: int | None,
    seed: int,
    progress: Progress,
    label: str,
    log: logging.Logger,
    extra_parameters: tuple = (),
    ties_to_later: bool = False,
    lengths: list[int] | None = None,
    weight_decay: float = 0.01,
) -> TrainResult:
    """Trains ``model`` on ``n`` items; ``step_loss(indices)`` returns the loss of one batch.

    ``validate()`` scores the model after each epoch (higher is better); the weights of the best
    epoch are restored at the end. ``patience`` epochs without improvement stop training early
    (None: always run every epoch). Without ``validate`` the last epoch is kept. A tie keeps the
    earlier epoch, or with ``ties_to_later`` the later one (a student keeps improving on soft
    targets that a small validation set's accuracy cannot resolve). ``lengths``: batch items of
    similar length together (see ``batch_indices``). Only the trained parameters are snapshotted
    for the best epoch, so a frozen base model (LoRA) is never copied.
    """
    import torch

    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    parameters = [p for _, p in named] + list(extra_parameters)
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=weight_decay)
    steps_per_epoch = len(batch_indices(n, batch_size, shuffle_seed=0, lengths=lengths))
    total = steps_per_epoch * epochs
    warmup = max(1, int(total * WARMUP_FRACTION))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: (step + 1) / warmup if step < warmup else max(0.0, (total - step) / max(1, total - warmup))
    )
    result = TrainResult()
    best_score, best_state, waited = -math.inf, None, 0
    with progress.task(label, total=total) as task:
        for epoch in range(1, epochs + 1):
            task.describe(f"{label}: epoch {epoch}/{epochs}")
            model.train()
            losses = []
            for indices in batch_indices(n, batch_size, shuffle_seed=seed * 1000 + epoch, lengths=lengths):
                optimizer.zero_grad()
                loss = step_loss(indices)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(parameters, 1.0)
                optimizer.step()
                schedule.step()
                losses.append(float(loss.detach()))
                task.advance()
            model.eval()
            record = {"epoch": epoch, "train_loss": sum(losses) / len(losses)}
            score = validate() if validate is not None else None
            if score is not None:
                record["validation"] = score
            result.history.append(record)
            log.info("%s epoch %d: train loss %.4f%s", label, epoch, record["train_loss"],
                     f", validation {score:.4f}" if score is not None else "")
            if score is None or score > best_score or (ties_to_later and score == best_score):
                best_score, waited, result.best_epoch = (score if score is not None else -math.inf), 0, epoch
                if score is not None and epoch < epochs:
                    best_state = {name: p.detach().clone() for name, p in named}
                else:
                    best_state = None  # the current weights are the best ones
            else:
                waited += 1
                if patience is not None and waited >= patience:
                    result.stopped_early = epoch < epochs
                    break
    if best_state is not None and result.best_epoch != result.history[-1]["epoch"]:
        with torch.no_grad():
            for name, p in named:
                p.copy_(best_state[name])
    model.eval()
    return result

"""The training loop fine-tuning and distillation share: AdamW, linear warm-up and decay,
reproducible shuffling, per-epoch validation, keeping the best epoch, early stopping; on one
process or many (``mobilekit.scale``), resumable from checkpoints.

Determinism across process counts: the global batches come from the seed alone, each rank takes
every size-th item of a batch, weights its loss by its share of the batch (items, or tokens when
``item_weights`` is given), and the summed gradients are those of the global batch's mean loss.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable

from mobilekit.compress.batches import batch_indices
from mobilekit.progress import Progress
from mobilekit.scale.runtime import TrainRuntime, capture_rng, restore_rng

WARMUP_FRACTION = 0.1


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)  # per epoch: epoch, train_loss, validation
    best_epoch: int = 0
    stopped_early: bool = False


@dataclass
class _State:
    """Everything that moves while training, which a checkpoint saves with the weights."""

    result: TrainResult = field(default_factory=TrainResult)
    epoch: int = 1  # the epoch in progress
    step_in_epoch: int = 0  # its batches done
    step: int = 0  # optimizer steps done in all
    losses: list[float] = field(default_factory=list)  # this epoch's batch losses so far
    best_score: float = -math.inf
    best_state: dict | None = None
    waited: int = 0
    finished: bool = False


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
    item_weights: list[int] | None = None,
    runtime: TrainRuntime | None = None,
) -> TrainResult:
    """Trains ``model`` on ``n`` items; ``step_loss(indices)`` returns the mean loss of those items.

    ``validate()`` scores the model after each epoch (higher is better); the weights of the best
    epoch are restored at the end. ``patience`` epochs without improvement stop training early
    (None: always run every epoch). Without ``validate`` the last epoch is kept. A tie keeps the
    earlier epoch, or with ``ties_to_later`` the later one (a student keeps improving on soft
    targets that a small validation set's accuracy cannot resolve). ``lengths``: batch items of
    similar length together (see ``batch_indices``). Only the trained parameters are snapshotted
    for the best epoch, so a frozen base model (LoRA) is never copied. ``item_weights``: what
    ``step_loss`` averages over per item (tokens), so ranks weight their shares exactly.
    ``runtime``: the ranks, checkpoints (the phase is ``label``) and precision; default one process.
    """
    loop = _Loop(model, runtime or TrainRuntime(), extra_parameters, learning_rate, weight_decay, label, log)
    plan = {"n": n, "batch_size": batch_size, "epochs": epochs, "seed": seed, "lengths": lengths is not None}
    loop.schedule_for(len(batch_indices(n, batch_size, shuffle_seed=0, lengths=lengths)) * epochs)
    state = loop.resume(plan) or _State()
    rule = _BestRule(validate, patience, ties_to_later, epochs)
    with progress.task(label, total=n * epochs) as task:
        task.skip(n * (state.epoch - 1) if not state.finished else n * epochs)  # resumed: done before
        while not state.finished:
            batches = batch_indices(n, batch_size, shuffle_seed=seed * 1000 + state.epoch, lengths=lengths)
            task.describe(f"{label}: epoch {state.epoch}/{epochs}")
            started, samples = time.monotonic(), loop.run_epoch(state, batches, step_loss, item_weights, task, plan)
            record = rule.end_epoch(loop, state)
            loop.report(record, epochs, n, samples / max(time.monotonic() - started, 1e-9), progress)
            loop.save(state, plan)
    loop.restore_best(state)
    model.eval()
    return state.result


class _BestRule:
    """After each epoch: validate, keep the best weights, decide whether to stop."""

    def __init__(self, validate, patience, ties_to_later, epochs):
        self.validate, self.patience, self.ties_to_later, self.epochs = validate, patience, ties_to_later, epochs

    def end_epoch(self, loop: "_Loop", state: _State) -> dict:
        loop.model.eval()
        world = loop.runtime.world
        record = {"epoch": state.epoch, "train_loss": sum(state.losses) / len(state.losses)}
        score = None
        if self.validate is not None:  # rank 0 scores, every rank decides alike
            score = world.broadcast(self.validate() if world.is_main else None)
            record["validation"] = score
        state.result.history.append(record)
        epoch = state.epoch
        if score is None or score > state.best_score or (self.ties_to_later and score == state.best_score):
            state.best_score, state.waited, state.result.best_epoch = (score if score is not None else -math.inf), 0, epoch
            keep = score is not None and epoch < self.epochs
            state.best_state = {name: p.detach().clone() for name, p in loop.named} if keep else None
        else:
            state.waited += 1
            if self.patience is not None and state.waited >= self.patience:
                state.result.stopped_early = epoch < self.epochs
                state.finished = True
        state.epoch, state.step_in_epoch, state.losses = epoch + 1, 0, []
        state.finished = state.finished or state.epoch > self.epochs
        return record


class _Loop:
    """The optimizer, schedule and one step's arithmetic, shared by every rank."""

    def __init__(self, model, runtime: TrainRuntime, extra_parameters, learning_rate, weight_decay, label, log):
        import torch

        self.model, self.runtime, self.label, self.log = model, runtime, label, log
        self.named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        self.parameters = [p for _, p in self.named] + list(extra_parameters)
        self.optimizer = torch.optim.AdamW(self.parameters, lr=learning_rate, weight_decay=weight_decay)
        self.scaler = runtime.grad_scaler() if runtime.precision == "fp16" else None

    def schedule_for(self, total: int) -> None:
        import torch

        warmup = max(1, int(total * WARMUP_FRACTION))
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: (step + 1) / warmup if step < warmup else max(0.0, (total - step) / max(1, total - warmup))
        )

    def run_epoch(self, state: _State, batches, step_loss, item_weights, task, plan) -> int:
        """The rest of the current epoch (all of it unless resuming); returns the items trained on."""
        self.model.train()
        task.skip(sum(len(b) for b in batches[: state.step_in_epoch]))
        samples = 0
        for indices in batches[state.step_in_epoch :]:
            state.losses.append(self.step(indices, step_loss, item_weights))
            state.step, state.step_in_epoch, samples = state.step + 1, state.step_in_epoch + 1, samples + len(indices)
            task.advance(len(indices))
            checkpoints = self.runtime.checkpoints
            if checkpoints is not None and checkpoints.due(state.step) and state.step_in_epoch < len(batches):
                self.save(state, plan)
        return samples

    def step(self, indices: list[int], step_loss, item_weights) -> float:
        """One optimizer step on a global batch; returns the batch's mean loss (all ranks)."""
        import torch

        world = self.runtime.world
        part = world.shard(indices)
        weigh = (lambda items: sum(item_weights[i] for i in items)) if item_weights else len
        share = weigh(part) / max(weigh(indices), 1)
        self.optimizer.zero_grad()
        local = 0.0
        if part:
            with self.runtime.autocast():
                loss = step_loss(part)
            scaled = loss if share == 1.0 else loss * share
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            local = float(loss.detach()) * share
        batch_loss = world.sum_gradients(self.parameters, local)
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.parameters, 1.0)
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.schedule.step()
        return batch_loss

    def report(self, record: dict, epochs: int, n: int, rate: float, progress) -> None:
        """The epoch's metrics and speed (items of the global batch per second) in the log and, from rank 0, on stderr."""
        score = record.get("validation")
        left = (epochs - record["epoch"]) * n / max(rate, 1e-9)
        self.log.info("%s epoch %d: train loss %.4f%s, %.1f samples/s", self.label, record["epoch"], record["train_loss"],
                      f", validation {score:.4f}" if score is not None else "", rate)
        if self.runtime.world.is_main:
            progress.note(f"{self.label} epoch {record['epoch']}/{epochs}: train loss {record['train_loss']:.4f}"
                          f"{f', validation {score:.4f}' if score is not None else ''}, {rate:.1f} samples/s"
                          f"{f', about {left:.0f}s left' if record['epoch'] < epochs else ''}")

    def save(self, state: _State, plan: dict) -> None:
        """A checkpoint of everything that moves (every rank takes part: RNG states are gathered)."""
        checkpoints = self.runtime.checkpoints
        if checkpoints is None:
            return
        snapshot = {
            "plan": plan, "epoch": state.epoch, "step_in_epoch": state.step_in_epoch, "step": state.step,
            "losses": list(state.losses), "history": state.result.history, "best_epoch": state.result.best_epoch,
            "stopped_early": state.result.stopped_early, "best_score": state.best_score, "waited": state.waited,
            "finished": state.finished, "best_state": _to_cpu(state.best_state),
            "parameters": [p.detach().cpu().clone() for p in self.parameters],
            "optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler else None, "rng": capture_rng(self.runtime.world),
        }
        checkpoints.save(self.label, snapshot)

    def resume(self, plan: dict) -> _State | None:
        checkpoints = self.runtime.checkpoints
        saved = checkpoints.load(self.label, plan) if checkpoints is not None else None
        if saved is None or not self._load_weights(saved):
            return None
        self.optimizer.load_state_dict(saved["optimizer"])
        self.schedule.load_state_dict(saved["schedule"])
        if self.scaler and saved["scaler"]:
            self.scaler.load_state_dict(saved["scaler"])
        if not restore_rng(self.runtime.world, saved["rng"]):
            self.log.warning("%s: the checkpoint was made with %d processes; dropout masks will differ from an uninterrupted run",
                             self.label, len(saved["rng"]))
        self.log.info("%s: resuming from the checkpoint at epoch %d, step %d", self.label, saved["epoch"], saved["step"])
        device = self.runtime.world.device
        best = {k: v.to(device) for k, v in saved["best_state"].items()} if saved["best_state"] is not None else None
        result = TrainResult(history=saved["history"], best_epoch=saved["best_epoch"], stopped_early=saved["stopped_early"])
        return _State(result=result, epoch=saved["epoch"], step_in_epoch=saved["step_in_epoch"], step=saved["step"],
                      losses=saved["losses"], best_score=saved["best_score"], best_state=best, waited=saved["waited"],
                      finished=saved["finished"])

    def _load_weights(self, saved: dict) -> bool:
        import torch

        values = saved["parameters"]
        if len(values) != len(self.parameters) or any(v.shape != p.shape for v, p in zip(values, self.parameters)):
            self.log.warning("%s: ignoring a checkpoint whose weights do not fit this model", self.label)
            return False
        with torch.no_grad():
            for p, v in zip(self.parameters, values):
                p.copy_(v)
        return True

    def restore_best(self, state: _State) -> None:
        import torch

        if state.best_state is not None and state.result.best_epoch != state.result.history[-1]["epoch"]:
            with torch.no_grad():
                for name, p in self.named:
                    p.copy_(state.best_state[name])


def _to_cpu(tensors: dict | None) -> dict | None:
    return None if tensors is None else {k: v.detach().cpu() for k, v in tensors.items()}

"""Distillation losses and the loop that trains a student against its teacher.

Classifiers, per example: alpha * T^2 * KL(teacher || student) on logits softened by the
temperature T, plus (1 - alpha) * cross-entropy on the hard label when the example has one
(unlabelled transfer text gets the soft-target term alone); optionally plus TinyBERT-style MSE
between the student's and the kept teacher layers' hidden states and attention maps, and
Patient-KD-style matching of the [CLS] states alone (Sun et al. 2019), which needs no token
alignment and so still works after the student's vocabulary was trimmed.
Sentence encoders: MSE + (1 - cosine) between the student's and teacher's pooled embeddings,
which needs no labels at all.

When no hidden/attention matching is asked for, the teacher runs once over the training text
(its outputs do not change between epochs) instead of once per batch per epoch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from mobilekit.compress.batches import model_inputs, pool, tokenize_batch, word_pooling
from mobilekit.compress.evaluate import classification_metrics, embed, embedding_metrics, predict_logits
from mobilekit.compress.training import TrainResult, train
from mobilekit.progress import Progress


@dataclass(frozen=True)
class DistillSettings:
    task: str
    layers: tuple[int, ...]
    temperature: float
    alpha: float
    hidden_weight: float
    attention_weight: float
    epochs: int
    batch_size: int
    learning_rate: float
    max_length: int
    pooling: str
    normalize: bool
    seed: int
    cls_weight: float = 0.0
    # Head pruning: per student layer, the teacher heads its heads are (attention maps are
    # matched head to head); None when the student kept every head.
    teacher_heads: tuple[tuple[int, ...], ...] | None = None

    @property
    def matches_internals(self) -> bool:
        return self.hidden_weight > 0 or self.attention_weight > 0


def soft_target_loss(student_logits, teacher_logits, temperature: float):
    """Per-example KL(teacher || student) at ``temperature``, scaled by T^2 (Hinton et al.)."""
    import torch.nn.functional as F

    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
    return (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(-1) * temperature**2


def classifier_loss(student_logits, teacher_logits, labels, *, temperature: float, alpha: float):
    """Mean over the batch; ``labels`` holds -1 for unlabelled examples (soft targets only)."""
    import torch.nn.functional as F

    soft = soft_target_loss(student_logits, teacher_logits, temperature)
    labelled = labels >= 0
    hard = F.cross_entropy(student_logits, labels.clamp(min=0), reduction="none")
    per_example = soft.where(~labelled, alpha * soft + (1 - alpha) * hard)
    return per_example.mean()


def embedding_loss(student_vectors, teacher_vectors):
    import torch.nn.functional as F

    cosine = F.cosine_similarity(student_vectors, teacher_vectors, dim=-1)
    return F.mse_loss(student_vectors, teacher_vectors) + (1 - cosine).mean()


def hidden_state_loss(student_states, teacher_states, layers, attention_mask, projection=None):
    """MSE over real tokens between student layer i and teacher layer layers[i] (and the embeddings)."""
    mask = attention_mask.unsqueeze(-1).to(student_states[0].dtype)
    pairs = [(student_states[0], teacher_states[0])]
    pairs += [(student_states[i + 1], teacher_states[layer + 1]) for i, layer in enumerate(layers)]
    total = 0.0
    for s, t in pairs:
        if projection is not None:
            s = projection(s)
        total = total + (((s - t) ** 2) * mask).sum() / (mask.sum() * t.shape[-1])
    return total / len(pairs)


def cls_state_loss(student_cls, teacher_cls):
    """Patient KD: squared distance between L2-normalised [CLS] states, summed over the width and
    averaged over batch and layers (0 when aligned, at most 4)."""
    import torch.nn.functional as F

    return ((F.normalize(student_cls, dim=-1) - F.normalize(teacher_cls, dim=-1)) ** 2).sum(-1).mean()


def cls_states(hidden_states, layers) -> "object":
    """[batch, len(layers), width]: the [CLS] state after each listed layer (0-based)."""
    import torch

    return torch.stack([hidden_states[layer + 1][:, 0] for layer in layers], dim=1)


def word_state_loss(student_states, teacher_states, layers, student_pooling, teacher_pooling, projection=None):
    """MSE between word-averaged states of student layer i and teacher layer layers[i], over the
    words both models saw (truncation may cut the longer-tokenized text earlier)."""
    import torch

    (s_pool, s_words), (t_pool, t_words) = student_pooling, teacher_pooling
    words = min(s_pool.shape[1], t_pool.shape[1])
    mask = (torch.arange(words).unsqueeze(0) < s_words.minimum(t_words).unsqueeze(1)).unsqueeze(-1).to(s_pool.dtype)
    total = 0.0
    for i, layer in enumerate(layers):
        s = s_pool[:, :words] @ student_states[i + 1]
        t = t_pool[:, :words] @ teacher_states[layer + 1]
        if projection is not None:
            s = projection(s)
        total = total + (((s - t) ** 2) * mask).sum() / (mask.sum().clamp(min=1) * t.shape[-1])
    return total / len(layers)


def attention_loss(student_maps, teacher_maps, layers, teacher_heads=None):
    """MSE between attention maps, student head j against teacher head ``teacher_heads[i][j]``
    when heads were pruned; averaged over heads when the head counts still differ (narrower)."""
    total = 0.0
    for i, layer in enumerate(layers):
        s, t = student_maps[i], teacher_maps[layer]
        if teacher_heads is not None:
            t = t[:, list(teacher_heads[i])]
        if s.shape[1] != t.shape[1]:
            s, t = s.mean(1), t.mean(1)
        total = total + ((s - t) ** 2).mean()
    return total / len(layers)


def teacher_outputs(teacher, tokenizer, texts, settings: DistillSettings) -> np.ndarray:
    """Logits (classifier) or pooled, unnormalised embeddings (encoder) for every text."""
    if settings.task == "text-classification":
        return predict_logits(teacher, tokenizer, texts, settings.max_length)
    return embed(teacher, tokenizer, texts, settings.max_length, pooling=settings.pooling, normalize=False)


def teacher_targets(teacher, tokenizer, texts, settings: DistillSettings):
    """What the student is trained towards, computed once: outputs (as ``teacher_outputs``) and,
    with cls_weight, the [CLS] states of the kept layers ([n, layers, width])."""
    import torch

    from mobilekit.compress.batches import iterate
    from mobilekit.compress.evaluate import EVAL_BATCH

    if settings.cls_weight <= 0:
        return torch.from_numpy(teacher_outputs(teacher, tokenizer, texts, settings)), None
    outputs, cls = [], []
    teacher.eval()
    with torch.no_grad():
        for _, batch in iterate(tokenizer, texts, settings.max_length, EVAL_BATCH, teacher):
            out = teacher(**batch, output_hidden_states=True)
            if settings.task == "text-classification":
                outputs.append(out.logits.float())
            else:
                outputs.append(pool(out.last_hidden_state, batch["attention_mask"], pooling=settings.pooling, normalize=False))
            cls.append(cls_states(out.hidden_states, settings.layers))
    return torch.cat(outputs), torch.cat(cls)


def shared_teacher_targets(teacher, tokenizer, texts, settings: DistillSettings, world):
    """``teacher_targets`` computed once in all: each rank runs the teacher on every size-th text
    and the ranks exchange their shares, so every rank holds every target in text order."""
    import torch

    if not world.distributed:
        outputs, cls = teacher_targets(teacher, tokenizer, texts, settings)
        return outputs.to(world.device), (cls.to(world.device) if cls is not None else None)
    mine = list(range(world.rank, len(texts), world.size))
    outputs, cls = teacher_targets(teacher, tokenizer, [texts[i] for i in mine], settings)
    shares = world.gather((mine, outputs.cpu(), None if cls is None else cls.cpu()))
    full = torch.zeros((len(texts), *outputs.shape[1:]), dtype=outputs.dtype)
    full_cls = None if cls is None else torch.zeros((len(texts), *cls.shape[1:]), dtype=cls.dtype)
    for indices, values, cls_values in shares:
        full[indices] = values
        if full_cls is not None:
            full_cls[indices] = cls_values
    device = world.device
    return full.to(device), (full_cls.to(device) if full_cls is not None else None)


def distill(
    teacher,
    student,
    tokenizer,
    *,
    settings: DistillSettings,
    train_texts: list[str],
    train_labels: list[int | None] | None,
    validation_texts: list[str],
    validation_labels: list[int | None] | None,
    progress: Progress,
    log: logging.Logger,
    student_tokenizer=None,
    label: str = "distilling",
    runtime=None,
) -> TrainResult:
    """``student_tokenizer``: the student's own (trimmed) tokenizer when it differs from the
    teacher's. Token positions differ then: hidden states are matched word by word (averaged over
    each word's pieces), and attention maps cannot be matched. ``runtime``: a
    mobilekit.scale.runtime.TrainRuntime (ranks, checkpoints); default one process."""
    import torch

    from mobilekit.scale.runtime import TrainRuntime

    runtime = runtime or TrainRuntime()

    student_tokenizer = student_tokenizer or tokenizer
    by_word = student_tokenizer is not tokenizer
    if by_word and settings.attention_weight > 0:
        raise ValueError("attention matching needs the teacher's tokenization")

    labels = torch.tensor([-1 if y is None else y for y in (train_labels or [None] * len(train_texts))])
    cached = cached_cls = None
    if not settings.matches_internals:
        with progress.task("teacher outputs on the training text"):
            cached, cached_cls = shared_teacher_targets(teacher, tokenizer, train_texts, settings, runtime.world)
    torch.manual_seed(settings.seed)
    projection = None
    if (settings.hidden_weight > 0 or settings.cls_weight > 0) and student.config.hidden_size != teacher.config.hidden_size:
        # TinyBERT's learnable W_h: maps the narrower student states into the teacher's space.
        projection = torch.nn.Linear(student.config.hidden_size, teacher.config.hidden_size)
    step_loss = _step_loss(teacher, student, tokenizer, student_tokenizer, settings, train_texts, labels,
                           (cached, cached_cls), projection)
    validate = _validator(teacher, student, tokenizer, student_tokenizer, settings, validation_texts, validation_labels)
    return train(
        student,
        n=len(train_texts),
        step_loss=step_loss,
        validate=validate,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        patience=None,
        ties_to_later=True,
        seed=settings.seed,
        progress=progress,
        label=label,
        log=log,
        extra_parameters=tuple(projection.parameters()) if projection is not None else (),
        lengths=[len(text) for text in train_texts],
        runtime=runtime,
    )


def _step_loss(teacher, student, tokenizer, student_tokenizer, settings: DistillSettings, train_texts: list[str], labels,
               cached_targets, projection):
    """The distillation loss of one batch (indices into ``train_texts``): the task term, plus the
    hidden-state, [CLS] and attention terms the settings ask for. ``cached_targets``: the teacher's
    outputs computed once (None, None when the loss needs the teacher's internals)."""
    import torch

    cached, cached_cls = cached_targets
    by_word = student_tokenizer is not tokenizer
    classify = settings.task == "text-classification"
    want_attentions = settings.attention_weight > 0
    want_hidden = settings.hidden_weight > 0 or settings.cls_weight > 0
    layers = list(settings.layers)

    def step_loss(indices):
        texts = [train_texts[i] for i in indices]
        s_encoding = tokenize_batch(student_tokenizer, texts, settings.max_length)
        t_encoding = tokenize_batch(tokenizer, texts, settings.max_length) if by_word else s_encoding
        batch, t_batch = model_inputs(s_encoding, student), model_inputs(t_encoding, teacher)
        out = student(**batch, output_hidden_states=want_hidden, output_attentions=want_attentions)
        if cached is not None:
            target, t_out = cached[indices], None
            t_cls = cached_cls[indices] if cached_cls is not None else None
        else:
            with torch.no_grad():
                t_out = teacher(**t_batch, output_hidden_states=want_hidden, output_attentions=want_attentions)
            target = t_out.logits if classify else pool(t_out.last_hidden_state, t_batch["attention_mask"], pooling=settings.pooling, normalize=False)
            t_cls = cls_states(t_out.hidden_states, layers) if settings.cls_weight > 0 else None
        if classify:
            loss = classifier_loss(out.logits, target, labels[indices], temperature=settings.temperature, alpha=settings.alpha)
        else:
            vectors = pool(out.last_hidden_state, batch["attention_mask"], pooling=settings.pooling, normalize=False)
            loss = embedding_loss(vectors, target)
        if settings.hidden_weight > 0 and by_word:
            loss = loss + settings.hidden_weight * word_state_loss(
                out.hidden_states, t_out.hidden_states, layers, word_pooling(s_encoding), word_pooling(t_encoding), projection
            )
        elif settings.hidden_weight > 0:
            loss = loss + settings.hidden_weight * hidden_state_loss(
                out.hidden_states, t_out.hidden_states, layers, batch["attention_mask"], projection
            )
        if settings.cls_weight > 0:
            s_cls = cls_states(out.hidden_states, range(len(layers)))
            loss = loss + settings.cls_weight * cls_state_loss(projection(s_cls) if projection is not None else s_cls, t_cls)
        if want_attentions:
            loss = loss + settings.attention_weight * attention_loss(out.attentions, t_out.attentions, layers, settings.teacher_heads)
        return loss

    return step_loss


def _validator(teacher, student, tokenizer, student_tokenizer, settings: DistillSettings, validation_texts: list[str],
               validation_labels):
    """The epoch metric: accuracy on the labels (else agreement with the teacher), or cosine to the
    teacher's embeddings; None without validation text."""
    if not validation_texts:
        return None
    classify = settings.task == "text-classification"
    reference = teacher_outputs(teacher, tokenizer, validation_texts, settings)
    known = [i for i, y in enumerate(validation_labels or []) if y is not None]

    def validate() -> float:
        if not classify:
            vectors = embed(student, student_tokenizer, validation_texts, settings.max_length, pooling=settings.pooling, normalize=False)
            return embedding_metrics(vectors, reference)["cosine_to_teacher_mean"]
        predicted = predict_logits(student, student_tokenizer, validation_texts, settings.max_length).argmax(axis=1)
        if known:  # accuracy on the labels, else agreement with the teacher
            return classification_metrics(predicted[known], [validation_labels[i] for i in known], student.config.num_labels)["accuracy"]
        return float(np.mean(predicted == reference.argmax(axis=1)))

    return validate

"""Quality and size figures of a model on held-out text.

Classifiers: accuracy and macro-F1 against the labels, and agreement with the teacher's argmax.
Encoders: cosine to the teacher's embedding of the same text, and recall@1 of finding the
teacher's embedding of the same text among the teacher's embeddings of the whole test split.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mobilekit.compress.batches import iterate, pool

EVAL_BATCH = 64


def predict_logits(model, tokenizer, texts: Sequence[str], max_length: int) -> np.ndarray:
    import torch

    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    model.eval()
    with torch.no_grad():
        for indices, batch in iterate(tokenizer, texts, max_length, EVAL_BATCH, model):
            out[indices] = model(**batch).logits.float().cpu().numpy()
    return out


def embed(model, tokenizer, texts: Sequence[str], max_length: int, *, pooling: str, normalize: bool) -> np.ndarray:
    import torch

    out = None
    model.eval()
    with torch.no_grad():
        for indices, batch in iterate(tokenizer, texts, max_length, EVAL_BATCH, model):
            hidden = model(**batch).last_hidden_state
            vectors = pool(hidden, batch["attention_mask"], pooling=pooling, normalize=normalize).cpu().numpy()
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[indices] = vectors
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def classification_metrics(predicted: np.ndarray, labels: Sequence[int], num_labels: int) -> dict:
    """Accuracy and macro-F1 (mean F1 over the classes that occur in labels or predictions)."""
    predicted = np.asarray(predicted)
    labels = np.asarray(labels)
    if len(labels) == 0:
        return {}
    f1s = []
    for c in range(num_labels):
        tp = int(np.sum((predicted == c) & (labels == c)))
        fp = int(np.sum((predicted == c) & (labels != c)))
        fn = int(np.sum((predicted != c) & (labels == c)))
        if tp + fp + fn:
            f1s.append(2 * tp / (2 * tp + fp + fn))
    return {"accuracy": float(np.mean(predicted == labels)), "macro_f1": float(np.mean(f1s))}


def embedding_metrics(student: np.ndarray, teacher: np.ndarray) -> dict:
    """Cosine to the teacher per text (mean, min) and recall@1 among the test split's teacher vectors."""
    if len(student) == 0:
        return {}
    s = student / np.linalg.norm(student, axis=1, keepdims=True).clip(1e-12)
    t = teacher / np.linalg.norm(teacher, axis=1, keepdims=True).clip(1e-12)
    cosine = np.sum(s * t, axis=1)
    nearest = np.argmax(s @ t.T, axis=1)
    return {
        "cosine_to_teacher_mean": float(cosine.mean()),
        "cosine_to_teacher_min": float(cosine.min()),
        "recall_at_1": float(np.mean(nearest == np.arange(len(s)))),
    }


def evaluate_classifier(model, tokenizer, texts, labels, max_length: int, *, teacher_predictions: np.ndarray | None = None) -> dict:
    """Metrics of one classifier on texts; ``labels`` may hold None (unlabelled) entries."""
    predicted = predict_logits(model, tokenizer, texts, max_length).argmax(axis=1)
    return prediction_metrics(predicted, labels, model.config.num_labels, teacher_predictions=teacher_predictions)


def prediction_metrics(predicted: np.ndarray, labels, num_labels: int, *, teacher_predictions: np.ndarray | None = None) -> dict:
    """``evaluate_classifier``'s figures from a classifier's predicted class per text."""
    known = [i for i, label in enumerate(labels) if label is not None]
    metrics = classification_metrics(predicted[known], [labels[i] for i in known], num_labels)
    if known:
        correct = predicted[known] == np.asarray([labels[i] for i in known])
        metrics["accuracy_ci95"] = [round(v, 5) for v in wilson_interval(int(correct.sum()), len(known))]
    if teacher_predictions is not None and len(predicted):
        metrics["agreement_with_teacher"] = float(np.mean(predicted == teacher_predictions))
        if known:
            truth = np.asarray([labels[i] for i in known])
            metrics["versus_teacher"] = paired_comparison(predicted[known] == truth, teacher_predictions[known] == truth)
    metrics["predictions"] = predicted
    return metrics


def wilson_interval(successes: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion."""
    if total == 0:
        return (0.0, 1.0)
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def paired_comparison(student_correct: np.ndarray, teacher_correct: np.ndarray, *, resamples: int = 2000,
                      seed: int = 0) -> dict:
    """Student against teacher on the same texts: McNemar's exact test (two-sided binomial test on
    the texts only one of them gets right) and a paired bootstrap 95% interval of the student's
    accuracy as a share of the teacher's (texts resampled with replacement, seeded)."""
    from math import comb

    student_correct, teacher_correct = np.asarray(student_correct, bool), np.asarray(teacher_correct, bool)
    only_teacher = int(np.sum(teacher_correct & ~student_correct))
    only_student = int(np.sum(student_correct & ~teacher_correct))
    discordant = only_teacher + only_student
    tail = sum(comb(discordant, k) for k in range(min(only_teacher, only_student) + 1)) / 2**discordant if discordant else 1.0
    rng = np.random.default_rng(seed)
    n = len(student_correct)
    picks = rng.integers(0, n, size=(resamples, n)) if n else np.zeros((0, 0), int)
    teacher_acc = teacher_correct[picks].mean(axis=1) if n else np.array([])
    ratios = student_correct[picks].mean(axis=1) / np.maximum(teacher_acc, 1e-12) if n else np.array([1.0])
    return {"texts": n, "only_teacher_right": only_teacher, "only_student_right": only_student,
            "mcnemar_p": round(float(min(1.0, 2 * tail)), 6),
            "retained": round(float(student_correct.mean() / max(teacher_correct.mean(), 1e-12)), 5) if n else None,
            "retained_ci95": [round(float(np.percentile(ratios, 2.5)), 5), round(float(np.percentile(ratios, 97.5)), 5)]}


def size_metrics(model, folder) -> dict:
    from mobilekit.compress.folders import parameter_count, weights_bytes

    return {"parameters": parameter_count(model), "safetensors_bytes": weights_bytes(folder)}


def rounded(metrics: dict, digits: int = 5) -> dict:
    """JSON-friendly copy: floats rounded, arrays dropped."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, np.ndarray):
            continue
        out[key] = round(value, digits) if isinstance(value, float) else value
    return out

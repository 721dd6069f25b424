"""Fine-tuning: a pretrained encoder (or a classifier with other labels) + labelled text ->
a teacher classifier, trained with cross-entropy and early stopping on validation accuracy."""

from __future__ import annotations

import logging

from mobilekit.compress.batches import encode
from mobilekit.compress.evaluate import classification_metrics, predict_logits
from mobilekit.compress.training import TrainResult, train
from mobilekit.progress import Progress


def classifier_from_encoder(folder, labels: list[str], seed: int):
    """The model in ``folder`` with a freshly initialised (seeded) head for ``labels``."""
    import torch

    from mobilekit.compress.folders import load_model

    torch.manual_seed(seed)
    return load_model(
        folder,
        "text-classification",
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
        ignore_mismatched_sizes=True,
    )


def finetune(
    model,
    tokenizer,
    *,
    train_texts: list[str],
    train_labels: list[int],
    validation_texts: list[str],
    validation_labels: list[int],
    max_length: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    patience: int,
    seed: int,
    progress: Progress,
    log: logging.Logger,
    runtime=None,
) -> TrainResult:
    """``runtime``: a mobilekit.scale.runtime.TrainRuntime (ranks, checkpoints); default one process."""
    import torch

    torch.manual_seed(seed)  # dropout masks
    targets = torch.tensor(train_labels)

    def step_loss(indices):
        batch = encode(tokenizer, [train_texts[i] for i in indices], max_length, model)
        return torch.nn.functional.cross_entropy(model(**batch).logits, targets[indices])

    def validate() -> float:
        predicted = predict_logits(model, tokenizer, validation_texts, max_length).argmax(axis=1)
        return classification_metrics(predicted, validation_labels, model.config.num_labels)["accuracy"]

    return train(
        model,
        n=len(train_texts),
        step_loss=step_loss,
        validate=validate if validation_texts else None,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        patience=patience,
        seed=seed,
        progress=progress,
        label="fine-tuning",
        log=log,
        runtime=runtime,
    )

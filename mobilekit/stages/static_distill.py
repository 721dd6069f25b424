"""distill with ``distill.student = "static"``: the teacher into a static token table.

Writes the model folder (``static_model.bin``, ``static_model.json`` and the teacher's tokenizer
files) and measures it against the teacher on the test split exactly as the transformer student
is measured (accuracy with its interval and McNemar's test, or cosine to the teacher). The stages
between distill and generate have nothing to do for such a model: there is no graph to export,
convert or run in an ML runtime, and ``static_model.bin`` is what both SDKs read.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from mobilekit.compress.static_format import DESCRIPTION_FILE, FILE_NAME
from mobilekit.config import Config
from mobilekit.stages.base import StageContext, StageOutput

SKIP_REASON = "the static student has no graph to {what}: the SDKs compute it in plain Kotlin and Swift"


def is_static(config: Config) -> bool:
    return config.distill.enabled and config.distill.student == "static"


def static_parameters(config: Config) -> dict[str, Any]:
    d, m = config.distill, config.model
    return {
        "student": "static", "task": m.task, "dimensions": d.static_dimensions, "sif": d.static_sif,
        "train_table": d.static_train_table, "int8_rows": d.embedding_table == "int8-rows",
        "frequency_texts": str(d.embedding_frequency_path) if d.embedding_frequency_path else None,
        "epochs": d.epochs, "batch_size": d.batch_size, "learning_rate": d.learning_rate, "temperature": d.temperature,
        "alpha": d.alpha, "augment": d.augment, "max_train_samples": d.max_train_samples,
        "labels": list(m.labels) if m.labels else None, "max_length": m.sequence_length,
        "pooling": m.pooling, "normalize": m.normalize if m.task == "sentence-embedding" else None,
    }


def settings_for(config: Config):
    from mobilekit.compress.static_student import StaticSettings

    d, m = config.distill, config.model
    return StaticSettings(task=m.task, pooling=m.pooling if m.task == "sentence-embedding" else "mean", normalize=m.normalize,
                          max_length=m.sequence_length, dimensions=d.static_dimensions, sif=d.static_sif,
                          int8_rows=d.embedding_table == "int8-rows", train_table=d.static_train_table, epochs=d.epochs,
                          learning_rate=d.learning_rate, batch_size=d.batch_size, temperature=d.temperature, alpha=d.alpha,
                          seed=config.data.seed)


def run_static_distill(ctx: StageContext, corpus, ys: dict, labels: list[str] | None, teacher, tokenizer, evaluation,
                       teacher_metrics: dict) -> StageOutput:
    """The static student of ``teacher``, measured next to it (``evaluation`` has measured the teacher)."""
    from mobilekit.compress import static_student as static
    from mobilekit.compress.augment import augment_texts
    from mobilekit.compress.embedding_table import token_counts
    from mobilekit.compress.distill import teacher_outputs
    from mobilekit.compress.folders import TOKENIZER_FILES, copy_files
    from mobilekit.stages.compress import _add_summary, _text_lines

    config, started = ctx.config, time.monotonic()
    settings = settings_for(config)
    classify = settings.task == "text-classification"
    frequency = config.distill.embedding_frequency_path
    counted = [e.text for e in corpus.train + corpus.validation] + (_text_lines(frequency) if frequency else [])
    counts = token_counts(tokenizer, counted, len(tokenizer))
    with ctx.progress.task(f"the teacher's vector for each of {len(tokenizer)} tokens"):
        model, facts = static.build_table(teacher, tokenizer, counts, settings)
    validation_ids = static.text_ids(tokenizer, [e.text for e in corpus.validation], settings.max_length)
    validate = _validator(settings, validation_ids, ys["validation"], evaluation, teacher, tokenizer,
                          [e.text for e in corpus.validation])
    history: list[dict] = []
    if classify or settings.train_table:
        augmented = augment_texts([e.text for e in corpus.train], config.distill.augment, seed=config.data.seed,
                                  mask_token=tokenizer.mask_token)
        texts = [e.text for e in corpus.train] + augmented
        train_labels = ys["train"] + [None] * len(augmented) if ys["train"] is not None else None
        with ctx.progress.task(f"the teacher's outputs on {len(texts)} training texts"):
            targets = teacher_outputs(teacher, tokenizer, texts, settings)
        with ctx.progress.task(f"training the static {'head' if not settings.train_table else 'table and head'}"):
            model, history = static.train_static(model, static.text_ids(tokenizer, texts, settings.max_length), targets,
                                                 train_labels, settings, validate)
    model = model.with_projection_folded()  # a classifier's PCA projection becomes part of its head
    if settings.int8_rows:
        model = model.with_int8_rows()
    folder = ctx.out_dir / "model"
    folder.mkdir(parents=True)
    path = model.save(folder)
    copy_files(ctx.inputs["teacher"], folder, TOKENIZER_FILES)
    if not (folder / "vocab.txt").is_file():  # the SDKs read vocab.txt; a tokenizer.json-only teacher writes it here
        tokenizer.save_pretrained(str(folder))
    description = _description(config, model, labels, facts)
    (folder / DESCRIPTION_FILE).write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
    test_ids = static.text_ids(tokenizer, evaluation.texts, settings.max_length)
    metrics: dict[str, Any] = {
        "student_kind": "static", "splits": corpus.sizes(), "test_source": corpus.source, "table": facts,
        "epochs": history, "teacher": teacher_metrics,
        "student": {**measure_static(model, test_ids, evaluation, settings), "parameters": model.parameter_count,
                    "shipped_bytes": path.stat().st_size, "speed": speed(model, test_ids)},
    }
    _add_summary(metrics, classify=classify, started=started)
    evaluation_file = ctx.out_dir / "evaluation.json"
    evaluation_file.write_text(json.dumps({"task": settings.task, **metrics}, indent=2) + "\n", encoding="utf-8")
    metadata = {"task": settings.task, "labels": labels, "student": "static", "embedding_table": config.distill.embedding_table}
    return StageOutput(artifacts={"model": folder, "evaluation": evaluation_file}, metadata={"model": metadata}, metrics=metrics)


def measure_static(model, ids, evaluation, settings) -> dict:
    """The figures ``_Evaluation.measure`` gives a transformer student, for the static one."""
    from mobilekit.compress.evaluate import embedding_metrics, prediction_metrics, rounded

    if settings.task == "text-classification":
        labels = evaluation.labels if evaluation.labels is not None else [None] * len(ids)
        measured = prediction_metrics(model.logits(ids).argmax(axis=1), labels, model.num_labels,
                                      teacher_predictions=evaluation.teacher_predictions)
    else:
        measured = embedding_metrics(model.embed(ids), evaluation.teacher_vectors)
    return rounded(measured)


def speed(model, ids, repeats: int = 3) -> dict:
    """Host figure for the reference (NumPy) computation per text; the SDKs do the same loop natively."""
    texts = ids[: min(len(ids), 500)]
    if not texts:
        return {}
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        (model.logits if model.num_labels else model.embed)(texts)
        best = min(best, time.perf_counter() - start)
    tokens = sum(len(t) for t in texts) / len(texts)
    return {"numpy_us_per_text": round(best / len(texts) * 1e6, 2), "texts": len(texts), "mean_tokens": round(tokens, 1)}


def _validator(settings, ids, labels, evaluation, teacher, tokenizer, texts):
    """validate(model) -> accuracy on the validation split (classifiers) or cosine to the teacher."""
    from mobilekit.compress.distill import teacher_outputs
    from mobilekit.compress.evaluate import embedding_metrics

    if settings.task == "text-classification":
        known = [i for i, y in enumerate(labels or []) if y is not None]
        if not known:  # unlabelled validation text: agreement with the teacher instead
            reference = teacher_outputs(teacher, tokenizer, texts, settings).argmax(axis=1) if texts else np.zeros(0)
            return lambda model: float(np.mean(model.logits(ids).argmax(axis=1) == reference)) if len(ids) else 0.0
        truth = np.asarray([labels[i] for i in known])
        return lambda model: float(np.mean(model.logits([ids[i] for i in known]).argmax(axis=1) == truth))
    reference = teacher_outputs(teacher, tokenizer, texts, settings) if texts else None
    return lambda model: embedding_metrics(model.embed(ids), reference).get("cosine_to_teacher_mean", 0.0) if texts else 0.0


def _description(config: Config, model, labels, facts: dict) -> dict:
    """static_model.json: what the .bin holds, for people and for the SDK generators."""
    return {"format": "mobilekit-static", "file": FILE_NAME, "task": config.model.task, "labels": labels,
            "vocab_size": model.vocab_size, "table_dims": int(model.table.shape[1]), "output_dims": model.output_dims,
            "int8_rows": model.int8 is not None, "normalize": model.normalize, "excluded_ids": model.excluded_ids,
            "sequence_length": config.model.sequence_length, "sif": config.distill.static_sif, **facts}

"""finetune and distill: the "make it small" stages.

finetune: the user's encoder + labelled data -> a teacher classifier (artifact ``model``).
distill:  the teacher (fine-tuned, else the user's model) -> a student with fewer layers, maybe a
          narrower width and a trimmed vocabulary (artifact ``model``), evaluated next to the
          teacher on the test split. The work itself lives in ``mobilekit.compress``.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from mobilekit.config import Config
from mobilekit.errors import ConfigError, InternalError, ModelInputError
from mobilekit.scale.compute import precision_parameter
from mobilekit.scale.dispatch import Trainer
from mobilekit.stages.base import SOURCE, ArtifactRef, Stage, StageContext, StageOutput, register_stage

NEURON_SAMPLE = 1024  # training texts that rank the teacher's feed-forward neurons and attention heads


def _data_parameters(config: Config) -> dict[str, Any]:
    d = config.data
    return {
        "format": d.format,
        "text_column": d.text_column,
        "label_column": d.label_column,
        "validation_fraction": d.validation_fraction,
        "test_fraction": d.test_fraction,
        "seed": d.seed,
    }


# What training depends on (the LLM package's conversion and SDK code is left out: editing it must
# not retrain a model).
TRAINING_SOURCES = ("stages/llm.py", "stages/static_distill.py", "compress", "scale", "data.py", "samples.py", "weights.py", "modelinfo.py",
                    "encoder_folder.py", "llm/lora.py", "llm/distill_lm.py", "llm/chat_data.py", "llm/texts.py",
                    "llm/model_folder.py", "llm/perplexity.py", "llm/kv_decoder.py")


@register_stage
class FinetuneStage(Stage):
    NAME = "finetune"
    SOURCES = TRAINING_SOURCES
    SUMMARY = "fine-tune a teacher classifier on the labelled data"
    REQUIRED_WHEN_ENABLED = True
    TRAINS = True

    def skip_reason(self, config: Config) -> str | None:
        return None if config.finetune.enabled else "finetune.enabled = false"

    def inputs(self, config: Config) -> dict[str, ArtifactRef]:
        return {"model": ArtifactRef(SOURCE, "model"), "data": ArtifactRef(SOURCE, "data")}

    def parameters(self, config: Config) -> dict[str, Any]:
        from mobilekit.stages.llm import finetune_parameters, is_llm

        if is_llm(config):
            return finetune_parameters(config)
        f = config.finetune
        return {
            "epochs": f.epochs,
            "batch_size": f.batch_size,
            "learning_rate": f.learning_rate,
            "patience": f.patience,
            "max_train_samples": f.max_train_samples,
            "labels": list(config.model.labels) if config.model.labels else None,
            "max_length": config.model.sequence_length,
            "data": _data_parameters(config),
            **precision_parameter(config),
        }

    def run(self, ctx: StageContext) -> StageOutput:
        from mobilekit.compress.corpus import label_ids, labels_for_finetuning, load_corpus
        from mobilekit.compress.evaluate import evaluate_classifier, rounded, size_metrics
        from mobilekit.compress.finetune import classifier_from_encoder, finetune
        from mobilekit.compress.folders import load_tokenizer, save_model_folder

        from mobilekit.stages.llm import is_llm, run_finetune

        if is_llm(ctx.config):
            return run_finetune(ctx)
        config, f = ctx.config, ctx.config.finetune
        started = time.monotonic()
        source, data = ctx.inputs["model"], ctx.inputs["data"]
        corpus = load_corpus(config, data=data, unlabelled=None, labelled=True, max_train=f.max_train_samples)
        labels = labels_for_finetuning(config, corpus, _id2label(source), data)
        train_y, validation_y, test_y = (label_ids(part, labels, data) for part in (corpus.train, corpus.validation, corpus.test))
        tokenizer = load_tokenizer(source)
        model = classifier_from_encoder(source, labels, config.data.seed)
        max_length = config.model.sequence_length
        result = Trainer(ctx).run(
            finetune, model, tokenizer,
            train_texts=[e.text for e in corpus.train], train_labels=train_y,
            validation_texts=[e.text for e in corpus.validation], validation_labels=validation_y,
            max_length=max_length, epochs=f.epochs, batch_size=f.batch_size, learning_rate=f.learning_rate,
            patience=f.patience, seed=config.data.seed,
        )
        folder = save_model_folder(model, ctx.out_dir / "model", tokenizer_from=source, task="text-classification")
        with ctx.progress.task("evaluating the teacher on the test split"):
            test = evaluate_classifier(model, tokenizer, [e.text for e in corpus.test], test_y, max_length)
        test = {**rounded(test), **size_metrics(model, folder)}
        ctx.log.info("teacher: test accuracy %s after %d epochs (best %d)", test.get("accuracy"), len(result.history), result.best_epoch)
        return StageOutput(
            artifacts={"model": folder},
            metadata={"model": {"task": "text-classification", "labels": labels, "test_accuracy": test.get("accuracy")}},
            metrics={
                "labels": labels,
                "splits": corpus.sizes(),
                "epochs": [_epoch(record, "validation_accuracy") for record in result.history],
                "best_epoch": result.best_epoch,
                "stopped_early": result.stopped_early,
                "test": test,
                "test_source": corpus.source,
                "seconds": round(time.monotonic() - started, 1),
            },
        )


@register_stage
class DistillStage(Stage):
    NAME = "distill"
    SOURCES = TRAINING_SOURCES
    SUMMARY = "distill a smaller student from the teacher"
    REQUIRED_WHEN_ENABLED = True
    TRAINS = True

    def skip_reason(self, config: Config) -> str | None:
        return None if config.distill.enabled else "distill.enabled = false"

    def inputs(self, config: Config) -> dict[str, ArtifactRef]:
        teacher = ArtifactRef("finetune", "model") if config.finetune.enabled else ArtifactRef(SOURCE, "model")
        refs = {"teacher": teacher}
        if config.data.path is not None:
            refs["data"] = ArtifactRef(SOURCE, "data")
        if config.data.unlabelled_path is not None:
            refs["unlabelled"] = ArtifactRef(SOURCE, "unlabelled")
        return refs

    def parameters(self, config: Config) -> dict[str, Any]:
        from mobilekit.stages.llm import distill_parameters, is_llm

        if is_llm(config):
            return distill_parameters(config)
        if config.distill.student == "static":
            from mobilekit.stages.static_distill import static_parameters

            return {**static_parameters(config), "data": _data_parameters(config)}
        d, m = config.distill, config.model
        return {
            "task": m.task,
            "layers": list(d.layers) if d.layers is not None else "every other",
            "hidden_size": d.hidden_size,
            "intermediate_size": d.intermediate_size,
            "heads": d.heads,
            "temperature": d.temperature,
            "alpha": d.alpha,
            "hidden_weight": d.hidden_weight,
            "attention_weight": d.attention_weight,
            "cls_weight": d.cls_weight,
            "augment": d.augment,
            "epochs": d.epochs,
            "batch_size": d.batch_size,
            "learning_rate": d.learning_rate,
            "max_train_samples": d.max_train_samples,
            "trim_vocabulary": d.trim_vocabulary,
            "trim_min_count": d.trim_min_count if d.trim_vocabulary else None,
            "trim_epochs": d.trim_epochs if d.trim_vocabulary else None,
            "trim_word_transfer": d.trim_word_transfer if d.trim_vocabulary else None,
            **_table_parameters(d),
            "labels": list(m.labels) if m.labels else None,
            "max_length": m.sequence_length,
            "pooling": m.pooling if m.task == "sentence-embedding" else None,
            "normalize": m.normalize if m.task == "sentence-embedding" else None,
            "data": _data_parameters(config),
            **precision_parameter(config),
        }

    def run(self, ctx: StageContext) -> StageOutput:
        from mobilekit.compress.augment import augment_texts
        from mobilekit.compress.corpus import label_ids, load_corpus
        from mobilekit.compress.distill import DistillSettings, distill
        from mobilekit.compress.folders import load_model, load_tokenizer
        from mobilekit.compress.student import build_student, default_layers

        from mobilekit.stages.llm import is_llm, run_distill

        if is_llm(ctx.config):
            return run_distill(ctx)
        config, d = ctx.config, ctx.config.distill
        started = time.monotonic()
        task = config.model.task
        classify = task == "text-classification"
        teacher_dir = ctx.inputs["teacher"]
        data = ctx.inputs.get("data")
        corpus = load_corpus(config, data=data, unlabelled=ctx.inputs.get("unlabelled"), labelled=classify and data is not None,
                             max_train=d.max_train_samples)
        # Labels are checked against the teacher's config before its weights are loaded.
        labels = _teacher_labels(config, teacher_dir) if classify else None
        ys = {name: (label_ids(part, labels, data) if classify and data is not None else None)
              for name, part in (("train", corpus.train), ("validation", corpus.validation), ("test", corpus.test))}
        teacher = load_model(teacher_dir, task, attentions=d.attention_weight > 0)
        tokenizer = load_tokenizer(teacher_dir)
        if d.student == "static":
            return self._static(ctx, corpus, ys, labels, teacher, tokenizer)
        layers = list(d.layers) if d.layers is not None else default_layers(teacher.config.num_hidden_layers)
        neurons = _chosen_neurons(ctx, teacher, tokenizer, corpus, layers)
        heads = _chosen_heads(ctx, teacher, tokenizer, corpus, layers, ys["train"])
        student = build_student(teacher, layers, hidden_size=d.hidden_size, intermediate_size=d.intermediate_size,
                                neurons=neurons, heads=heads, seed=config.data.seed)
        settings = DistillSettings(
            task=task, layers=tuple(layers), temperature=d.temperature, alpha=d.alpha, hidden_weight=d.hidden_weight,
            attention_weight=d.attention_weight, epochs=d.epochs, batch_size=d.batch_size, learning_rate=d.learning_rate,
            max_length=config.model.sequence_length, pooling=config.model.pooling, normalize=config.model.normalize,
            seed=config.data.seed, cls_weight=d.cls_weight,
            teacher_heads=tuple(tuple(heads[layer]) for layer in layers) if heads is not None else None,
        )
        # Augmented copies join the training text as unlabelled transfer text (soft targets only).
        augmented = augment_texts([e.text for e in corpus.train], d.augment, seed=config.data.seed, mask_token=tokenizer.mask_token)
        train_texts = [e.text for e in corpus.train] + augmented
        train_labels = ys["train"] + [None] * len(augmented) if ys["train"] is not None else None
        result = Trainer(ctx).run(
            distill, teacher, student, tokenizer, trained=1, settings=settings,
            train_texts=train_texts, train_labels=train_labels,
            validation_texts=[e.text for e in corpus.validation], validation_labels=ys["validation"],
        )
        evaluation = _Evaluation(ctx, settings, [e.text for e in corpus.test], ys["test"])
        metrics: dict[str, Any] = {
            "layers": layers,
            "hidden_size": student.config.hidden_size,
            "intermediate_size": getattr(student.config, "intermediate_size", None),
            "attention_heads": _attention_heads(student),
            "splits": {**corpus.sizes(), "augmented": len(augmented)},
            "epochs": [_epoch(record, "validation_accuracy" if classify else "validation_cosine") for record in result.history],
            "best_epoch": result.best_epoch,
            "test_source": corpus.source,
            "teacher": evaluation.measure("teacher", teacher, tokenizer, teacher_dir),
        }
        if heads is not None:  # which teacher heads each kept layer kept, in the order of "layers"
            metrics["heads_kept"] = [heads[layer] for layer in layers]
        folder = ctx.out_dir / "model"
        self._ship(ctx, teacher, student, tokenizer, teacher_dir, corpus, settings, folder, evaluation, metrics,
                   train_texts=train_texts, train_labels=train_labels, validation_labels=ys["validation"])
        _add_summary(metrics, classify=classify, started=started)
        metadata = {"task": task, "labels": labels, "teacher_layers": layers, "hidden_size": student.config.hidden_size,
                    "vocab_size": student.config.vocab_size, "trimmed_vocabulary": d.trim_vocabulary,
                    "embedding_table": d.embedding_table}
        # The same figures as a file, so the report (which reads artifacts, not the manifest) can show them.
        evaluation_file = ctx.out_dir / "evaluation.json"
        evaluation_file.write_text(json.dumps({"task": task, **metrics}, indent=2) + "\n", encoding="utf-8")
        return StageOutput(artifacts={"model": folder, "evaluation": evaluation_file}, metadata={"model": metadata}, metrics=metrics)

    def _static(self, ctx, corpus, ys, labels, teacher, tokenizer) -> StageOutput:
        from mobilekit.compress.distill import DistillSettings
        from mobilekit.stages.static_distill import run_static_distill, settings_for

        s = settings_for(ctx.config)
        # The teacher measured exactly as next to a transformer student.
        settings = DistillSettings(task=s.task, layers=(), temperature=s.temperature, alpha=s.alpha, hidden_weight=0.0,
                                   attention_weight=0.0, epochs=s.epochs, batch_size=s.batch_size, learning_rate=s.learning_rate,
                                   max_length=s.max_length, pooling=s.pooling, normalize=s.normalize, seed=s.seed)
        evaluation = _Evaluation(ctx, settings, [e.text for e in corpus.test], ys["test"])
        teacher_metrics = evaluation.measure("teacher", teacher, tokenizer, ctx.inputs["teacher"])
        return run_static_distill(ctx, corpus, ys, labels, teacher, tokenizer, evaluation, teacher_metrics)

    def _ship(self, ctx, teacher, student, tokenizer, teacher_dir: Path, corpus, settings, folder: Path, evaluation,
              metrics: dict, *, train_texts: list[str], train_labels, validation_labels) -> None:
        """Write the shipped student into ``folder`` (as distilled, with a compressed embedding
        table, or with a trimmed vocabulary) and measure it, and the student before that step."""
        from mobilekit.compress.folders import save_model_folder

        d, task = ctx.config.distill, ctx.config.model.task
        if d.embedding_table == "full" and not d.trim_vocabulary:
            save_model_folder(student, folder, tokenizer_from=teacher_dir, task=task)
            metrics["student"] = evaluation.measure("student", student, tokenizer, folder)
            return
        before = save_model_folder(student, ctx.out_dir / ".before-embeddings", tokenizer_from=teacher_dir, task=task)
        metrics["student"] = evaluation.measure("student", student, tokenizer, before)
        shutil.rmtree(before)
        key, step = ("student_compressed", self._compress_table) if d.embedding_table != "full" else ("student_trimmed", self._trim)
        metrics[key] = step(ctx, teacher, student, tokenizer, teacher_dir, corpus, settings, folder, evaluation,
                            train_texts=train_texts, train_labels=train_labels, validation_labels=validation_labels)

    def _compress_table(self, ctx, teacher, student, tokenizer, teacher_dir: Path, corpus, settings, folder: Path,
                        evaluation, *, train_texts: list[str], train_labels, validation_labels) -> dict:
        """The word-embedding table compressed, the vocabulary kept (``compress.embedding_table``)."""
        from dataclasses import replace

        import numpy as np

        from mobilekit.compress import embedding_table as tables
        from mobilekit.compress.distill import distill
        from mobilekit.compress.folders import save_model_folder

        d = ctx.config.distill
        weight = student.get_input_embeddings().weight.detach().numpy().copy()
        texts, exact = [], np.zeros(0, dtype=np.int64)  # int8 rows: none exact
        with ctx.progress.task(f"compressing the embedding table ({d.embedding_table})"):
            if d.embedding_table == tables.INT8_ROWS:
                table = tables.int8_table(weight)
            else:
                # Token counts of the task corpus (never the test split) and of the extra frequency text.
                texts = [e.text for e in corpus.train + corpus.validation]
                if d.embedding_frequency_path is not None:
                    texts += _text_lines(d.embedding_frequency_path)
                counts = tables.token_counts(tokenizer, texts, len(weight))
                always = list(tokenizer.all_special_ids) + list(tokenizer.added_tokens_decoder)
                exact = tables.choose_exact_rows(counts, d.embedding_exact_rows, always=always)
                table = tables.kmeans_table(weight, exact, d.embedding_clusters, seed=ctx.config.data.seed)
            tables.set_dense(student, table)
        adaptation = None
        if d.embedding_epochs > 0:
            # The table frozen as compressed: the layers above it adapt to its approximation.
            student.get_input_embeddings().weight.requires_grad_(False)
            adaptation = Trainer(ctx).run(
                distill, teacher, student, tokenizer, trained=1, label="distilling (compressed embedding table)",
                settings=replace(settings, epochs=d.embedding_epochs), train_texts=train_texts, train_labels=train_labels,
                validation_texts=[e.text for e in corpus.validation], validation_labels=validation_labels,
            )
            student.get_input_embeddings().weight.requires_grad_(True)
        save_model_folder(student, folder, tokenizer_from=teacher_dir, task=ctx.config.model.task)
        table.save(folder)
        measured = evaluation.measure("student with the compressed table", student, tokenizer, folder)
        described = table.describe()
        tail = sorted(set(range(len(weight))) - set(exact.tolist()))  # every row for int8 rows
        measured["embedding_table"] = {**described, "rows_approximated": tables.reconstruction_error(weight, table.dense(), tail)}
        if table.method == tables.KMEANS:
            measured["embedding_table"].update(frequency_texts=len(texts),
                                               test_tokens_exact=_exact_share(tokenizer, evaluation.texts, set(exact.tolist())))
        # What a phone ships: the folder's weights with the dense table replaced by the compressed one.
        measured["shipped_bytes"] = measured["safetensors_bytes"] - described["dense_bytes"] + described["bytes"]
        if adaptation is not None:
            measured["epochs_after_compressing"] = [_epoch(r, "validation") for r in adaptation.history]
        return measured

    def _trim(self, ctx, teacher, student, tokenizer, teacher_dir: Path, corpus, settings, folder: Path, evaluation, *,
              train_texts: list[str], train_labels, validation_labels) -> dict:
        from dataclasses import replace

        from mobilekit.compress.distill import distill
        from mobilekit.compress.folders import load_tokenizer, save_model_folder
        from mobilekit.compress.vocabulary import (
            choose_tokens,
            dropped_words,
            tokenization_changes,
            trim_embeddings,
            write_trimmed_tokenizer,
        )

        d = ctx.config.distill
        # The task corpus: everything but the test split, which measures what trimming changes.
        corpus_texts = [e.text for e in corpus.train + corpus.validation]
        with ctx.progress.task("trimming the vocabulary"):
            choice = choose_tokens(tokenizer, corpus_texts, min_count=d.trim_min_count)
            write_trimmed_tokenizer(teacher_dir, tokenizer, choice, folder)
            trim_embeddings(student, choice)
            trimmed = load_tokenizer(folder)
            _check_in_vocabulary_text(tokenizer, trimmed, corpus_texts, set(choice.kept_ids))
        adaptation = None
        words = dropped_words(tokenizer, choice) if d.trim_word_transfer and d.trim_epochs > 0 else []
        if d.trim_epochs > 0:
            # With trim_min_count > 1 rare words now arrive as smaller pieces: a short distillation
            # on the trimmed tokenization teaches the student to read them (token positions no
            # longer line up: hidden states are matched word by word, attention maps not at all).
            adaptation = Trainer(ctx).run(
                distill, teacher, student, tokenizer, trained=1, student_tokenizer=trimmed, label="distilling (trimmed vocabulary)",
                settings=replace(settings, attention_weight=0.0, epochs=d.trim_epochs),
                train_texts=train_texts + words,
                train_labels=train_labels + [None] * len(words) if train_labels is not None else None,
                validation_texts=[e.text for e in corpus.validation], validation_labels=validation_labels,
            )
        save_model_folder(student, folder, tokenizer_from=teacher_dir, task=ctx.config.model.task, copy_tokenizer=False)
        measured = evaluation.measure("trimmed student", student, trimmed, folder)
        measured["vocabulary"] = {
            "before": choice.old_size,
            "after": len(choice.kept_ids),
            "from_corpus": choice.from_corpus,
            "single_characters": choice.single_characters,
            "special": choice.special,
            "min_count": d.trim_min_count,
            "dropped_words_distilled": len(words),
        }
        if adaptation is not None:
            measured["epochs_after_trimming"] = [_epoch(r, "validation") for r in adaptation.history]
        measured["tokenization_on_test"] = {
            k: round(v, 4) if isinstance(v, float) else v
            for k, v in tokenization_changes(tokenizer, trimmed, evaluation.texts).items()
        }
        return measured


def _chosen_neurons(ctx: StageContext, teacher, tokenizer, corpus, layers: list[int]) -> dict[int, list[int]] | None:
    """With a narrower ``distill.intermediate_size``: each kept layer's most important feed-forward neurons."""
    from mobilekit.compress.student import choose_neurons, neuron_importance

    d = ctx.config.distill
    if d.intermediate_size is None or d.intermediate_size >= getattr(teacher.config, "intermediate_size", 0):
        return None
    with ctx.progress.task("ranking the teacher's feed-forward neurons"):
        importance = neuron_importance(teacher, tokenizer, [e.text for e in corpus.train[:NEURON_SAMPLE]], layers,
                                       ctx.config.model.sequence_length)
    return choose_neurons(importance, d.intermediate_size)


def _chosen_heads(ctx: StageContext, teacher, tokenizer, corpus, layers: list[int], train_labels) -> dict[int, list[int]] | None:
    """With ``distill.heads``: each kept layer's most important attention heads, measured on the
    teacher (as the neurons are); None when every head stays."""
    from mobilekit.compress.heads import check_head_count, choose_heads, head_importance, student_head_counts
    from mobilekit.compress.student import check_layers

    d, model = ctx.config.distill, ctx.config.model
    if d.heads is None:
        return None
    counts = student_head_counts(teacher, check_layers(layers, teacher.config.num_hidden_layers), d.hidden_size)
    check_head_count(d.heads, counts)
    if all(count == d.heads for count in counts):
        return None  # nothing to cut
    sample = corpus.train[:NEURON_SAMPLE]
    with ctx.progress.task("ranking the teacher's attention heads"):
        importance = head_importance(teacher, tokenizer, [e.text for e in sample], layers, model.sequence_length, task=model.task,
                                     labels=train_labels[: len(sample)] if train_labels is not None else None,
                                     pooling=model.pooling, seed=ctx.config.data.seed)
    # A narrower student has only the teacher's leading heads: each layer chooses among those.
    return choose_heads({layer: importance[layer][:count] for layer, count in zip(layers, counts)}, d.heads)


def _attention_heads(student) -> list[int] | None:
    """The student's attention heads per layer (None for a layout head pruning does not know)."""
    from mobilekit.compress.heads import head_counts

    try:
        return head_counts(student)
    except ModelInputError:
        return None


class _Evaluation:
    """Measures teacher, student and trimmed student the same way on the test split."""

    def __init__(self, ctx: StageContext, settings, texts: list[str], labels):
        self.ctx, self.settings, self.texts, self.labels = ctx, settings, texts, labels
        self.teacher_predictions = None
        self.teacher_vectors = None

    def measure(self, who: str, model, tokenizer, folder: Path) -> dict:
        from mobilekit.compress.evaluate import embed, embedding_metrics, evaluate_classifier, rounded, size_metrics

        s = self.settings
        with self.ctx.progress.task(f"evaluating the {who} on the test split"):
            if s.task == "text-classification":
                labels = self.labels if self.labels is not None else [None] * len(self.texts)
                measured = evaluate_classifier(model, tokenizer, self.texts, labels, s.max_length,
                                               teacher_predictions=self.teacher_predictions)
                if self.teacher_predictions is None:
                    self.teacher_predictions = measured["predictions"]
            else:
                vectors = embed(model, tokenizer, self.texts, s.max_length, pooling=s.pooling, normalize=s.normalize)
                if self.teacher_vectors is None:
                    self.teacher_vectors = vectors
                    measured = {}
                else:
                    measured = embedding_metrics(vectors, self.teacher_vectors)
        measured = {**rounded(measured), **size_metrics(model, folder)}
        self.ctx.log.info("%s: %s", who, measured)
        return measured


def _check_in_vocabulary_text(original, trimmed, texts: list[str], kept: set[int]) -> None:
    """Text made only of kept tokens must tokenize exactly as before; anything else is a bug."""
    for start in range(0, len(texts), 256):
        chunk = texts[start : start + 256]
        for text, before, after in zip(chunk, original(chunk)["input_ids"], trimmed(chunk)["input_ids"]):
            if set(before) <= kept and original.convert_ids_to_tokens(before) != trimmed.convert_ids_to_tokens(after):
                raise InternalError(f"internal: the trimmed tokenizer splits in-vocabulary text differently: {text!r}")


def _teacher_labels(config: Config, teacher_dir: Path) -> list[str]:
    id2label = _id2label(teacher_dir)
    if not id2label:
        raise ModelInputError(f"the teacher in {teacher_dir} has no id2label in its config.json",
                              hint="distill a classifier saved with save_pretrained(), or enable [finetune]")
    names = [id2label[i] for i in sorted(id2label)]
    if config.model.labels is not None:
        if len(config.model.labels) != len(names):
            raise ConfigError(
                f"model.labels has {len(config.model.labels)} names but the teacher has {len(names)} outputs",
                hint="list exactly one name per output, in output order",
            )
        return list(config.model.labels)
    return names


def _id2label(model_dir: Path) -> dict[int, str] | None:
    try:
        raw = json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("id2label")
    except (OSError, ValueError):
        return None
    return {int(k): v for k, v in raw.items()} if isinstance(raw, dict) else None


def _epoch(record: dict, validation_name: str) -> dict:
    out = {"epoch": record["epoch"], "train_loss": round(record["train_loss"], 5)}
    if "validation" in record:
        out[validation_name] = round(record["validation"], 5)
    return out


def _add_summary(metrics: dict[str, Any], *, classify: bool, started: float) -> None:
    """What shipped, how much smaller it is and how much of the teacher's quality it keeps."""
    shipped_key = next(k for k in ("student_compressed", "student_trimmed", "student") if k in metrics)
    shipped = metrics[shipped_key]
    metrics["shipped"] = shipped_key
    size = shipped["shipped_bytes"] if "shipped_bytes" in shipped else shipped["safetensors_bytes"]
    metrics["size_ratio"] = round(metrics["teacher"]["safetensors_bytes"] / size, 3)
    quality = "accuracy" if classify else "cosine_to_teacher_mean"
    if quality in shipped and metrics["teacher"].get(quality, 1.0):
        metrics["quality_retained"] = round(shipped[quality] / metrics["teacher"].get(quality, 1.0), 4)
    metrics["seconds"] = round(time.monotonic() - started, 1)


def _table_parameters(d) -> dict[str, Any]:
    """The compressed table's settings (none with the full table: the fingerprint of before)."""
    if d.embedding_table == "full":
        return {}
    from mobilekit.fsutil import sha256_file

    params = {"embedding_table": d.embedding_table, "embedding_epochs": d.embedding_epochs}
    if d.embedding_table == "kmeans":
        frequency = d.embedding_frequency_path
        params.update(embedding_exact_rows=d.embedding_exact_rows, embedding_clusters=d.embedding_clusters,
                      embedding_frequency_sha256=sha256_file(frequency) if frequency is not None and Path(frequency).is_file() else None)
    return params


def _text_lines(path: Path) -> list[str]:
    """The non-empty lines of a UTF-8 text file."""
    try:
        return [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise ModelInputError(f"cannot read {path}: {e}", hint="distill.embedding_frequency_path must be UTF-8 text, one text per line") from e


def _exact_share(tokenizer, texts: list[str], exact: set[int]) -> float:
    """The share of the test text's tokens whose rows stayed exact."""
    ids = [i for row in tokenizer(texts, add_special_tokens=False)["input_ids"] for i in row] if texts else []
    return round(sum(i in exact for i in ids) / max(1, len(ids)), 4)

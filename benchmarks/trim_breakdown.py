"""Where a trimmed student loses accuracy: test texts whose tokenization changed vs did not.

Not a test. After `benchmarks/compress_minilm.py` (same --work), compares the teacher and the
distilled, trimmed student on the test split, separately for the texts the trimmed tokenizer
splits exactly as the teacher's and for the others.

    .venv/bin/python benchmarks/trim_breakdown.py [--work DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

CACHE = Path.home() / ".cache" / "mobilekit"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=CACHE / "bench" / "compress-minilm")
    args = parser.parse_args()
    from mobilekit.compress.evaluate import predict_logits
    from mobilekit.compress.folders import load_model, load_tokenizer
    from mobilekit.config import load_config
    from mobilekit.data import read_examples, split

    config = load_config(args.work / "mobilekit.toml")
    d = config.data
    test = split(read_examples(d.path), validation_fraction=d.validation_fraction, test_fraction=d.test_fraction, seed=d.seed).test
    texts = [e.text for e in test]
    build = args.work / config.project.build_dir
    teacher_dir, student_dir = build / "finetune" / "model", build / "distill" / "model"
    names = [json.loads((teacher_dir / "config.json").read_text())["id2label"][str(i)] for i in range(2)]
    truth = np.array([names.index(e.label) for e in test])
    teacher_tok, student_tok = load_tokenizer(teacher_dir), load_tokenizer(student_dir)
    length = config.model.sequence_length
    teacher = predict_logits(load_model(teacher_dir, "text-classification"), teacher_tok, texts, length).argmax(1)
    student = predict_logits(load_model(student_dir, "text-classification"), student_tok, texts, length).argmax(1)
    changed = np.array([teacher_tok.convert_ids_to_tokens(a) != student_tok.convert_ids_to_tokens(b)
                        for a, b in zip(teacher_tok(texts)["input_ids"], student_tok(texts)["input_ids"])])
    for name, mask in (("unchanged", ~changed), ("changed", changed)):
        if mask.any():
            print(f"{name:>9}: {int(mask.sum()):4d} texts  teacher {np.mean(teacher[mask] == truth[mask]):.3f}  "
                  f"student {np.mean(student[mask] == truth[mask]):.3f}  agreement {np.mean(teacher[mask] == student[mask]):.3f}")


if __name__ == "__main__":
    main()

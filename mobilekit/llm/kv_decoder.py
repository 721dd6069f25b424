"""A Hugging Face causal LM with its KV cache as explicit tensors: the graph both phones run.

``KvDecoder`` wraps the user's own ``*ForCausalLM`` module (its weights, norms, rotary embeddings
and attention code run unchanged) and replaces the growing Hugging Face cache by fixed-size
tensors that go in and come out of every call:

    forward(tokens int32 [1, T], input_pos int32 [T], kv_cache_k_0, kv_cache_v_0, ...)
        -> {"logits": float32 [1, T, vocab], "kv_cache_k_0": ..., "kv_cache_v_0": ..., ...}

    kv_cache_{k,v}_i: float32 [1, kv_heads, context_length, head_dim]

One module, traced with T = each prefill length and T = 1 (decode), is what litert-torch turns
into TFLite signatures and coremltools into Core ML functions, so every runtime sees the same
computation. Shapes are static (dynamic lengths are what breaks mobile converters).

Why explicit tensors and not litert-torch's per-checkpoint generative builders: those hard-code
one published config each (a tiny test model or a user's distilled student does not load) and do
not cover GPT-2, and their graphs cannot be traced for Core ML. Here the only rewritten parts are
the cache write and the attention mask, both expressed with plain matmul/compare ops that every
converter lowers:

- cache write: ``write = one_hot(input_pos, context_length)`` [T, L];
  ``cache = cache * (1 - write.sum(0)) + write^T @ new`` (no scatter, no dynamic slice).
- mask: position j is visible from a token at position p when j <= p (and, on sliding-window
  layers, j > p - window). ``MASK_VALUE`` is finite so a row with nothing visible stays finite.
- padding: a prefill call shorter than its signature pads with ``PAD_POSITION`` (-1): such tokens
  write nothing (their one-hot row is zero) and nobody attends to them.
- grouped-query attention: Hugging Face's eager attention repeats each K/V head for its query
  heads (``repeat_kv``), which over a whole cache becomes a BROADCAST_TO that LiteRT runs with a
  slow reference kernel (43% of SmolLM2's ARM64 instructions per decoded token). Inside the
  decoder the query heads are grouped onto their K/V head instead (``grouped_query_attention``):
  the same arithmetic, no copy of the cache.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

GRAPH_VERSION = 2  # bump when the traced graph changes: the export's decoder.json carries it
PAD_POSITION = -1
GQA_ATTENTION = "mobilekit_gqa"
MASK_VALUE = -1.0e4  # finite: fp16-safe, and a fully masked (padding) row gives no NaN

# Hugging Face model_type -> the family mobilekit knows how to drive. Each was checked end to end
# (KV decode == full forward, TFLite conversion) on a tiny random config in tests/llm.
SUPPORTED_ARCHITECTURES = {
    "llama": "Llama, SmolLM, TinyLlama",
    "gpt2": "GPT-2, DistilGPT2",
    "qwen2": "Qwen2, Qwen2.5",
    "qwen3": "Qwen3",
    "gemma3_text": "Gemma 3 (text)",
}


@dataclass(frozen=True)
class DecoderSpec:
    """What a runtime needs to drive the decoder: the cache layout and the signatures."""

    model_type: str
    num_layers: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    context_length: int
    prefill_lengths: tuple[int, ...]

    def cache_shape(self) -> tuple[int, int, int, int]:
        return (1, self.kv_heads, self.context_length, self.head_dim)

    def cache_names(self) -> list[str]:
        return [f"kv_cache_{kind}_{i}" for i in range(self.num_layers) for kind in ("k", "v")]

    def signature_names(self) -> list[str]:
        return [prefill_signature(n) for n in self.prefill_lengths] + ["decode"]

    def to_dict(self) -> dict:
        return {**asdict(self), "prefill_lengths": list(self.prefill_lengths),
                "cache_shape": list(self.cache_shape()), "signatures": self.signature_names(),
                "pad_position": PAD_POSITION, "graph_version": GRAPH_VERSION}

    @classmethod
    def from_dict(cls, data: dict) -> "DecoderSpec":
        names = ("model_type", "num_layers", "kv_heads", "head_dim", "vocab_size", "context_length")
        return cls(**{n: data[n] for n in names}, prefill_lengths=tuple(data["prefill_lengths"]))


def prefill_signature(length: int) -> str:
    return f"prefill_{length}"


def text_config(config):
    """The language model's own config (multimodal configs nest it)."""
    return getattr(config, "text_config", None) or config


def decoder_spec(config, context_length: int, prefill_lengths) -> DecoderSpec:
    config = text_config(config)
    heads = config.num_attention_heads if hasattr(config, "num_attention_heads") else config.n_head
    layers = config.num_hidden_layers if hasattr(config, "num_hidden_layers") else config.n_layer
    hidden = config.hidden_size if hasattr(config, "hidden_size") else config.n_embd
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    return DecoderSpec(model_type=config.model_type, num_layers=layers, kv_heads=kv_heads, head_dim=head_dim,
                       vocab_size=config.vocab_size, context_length=context_length,
                       prefill_lengths=tuple(sorted(set(prefill_lengths))))


def load_causal_lm(model_dir: Path, dtype=None):
    """The folder's ``AutoModelForCausalLM`` in eval mode, eager attention (traceable everywhere)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype or torch.float32,
                                                 attn_implementation="eager")
    return model.eval()


def _explicit_cache(num_layers: int):
    """A transformers ``Cache`` whose layers write into given tensors with a one-hot matmul."""
    import torch
    from transformers.cache_utils import Cache, CacheLayerMixin

    class ExplicitLayer(CacheLayerMixin):
        is_sliding = False

        def __init__(self):
            super().__init__()
            self.write = None
            self.is_initialized = True

        def lazy_initialization(self, key_states, value_states):  # the tensors are given, never grown
            return None

        def update(self, key_states, value_states, *args, **kwargs):
            keep = (1.0 - self.write.sum(0))[None, None, :, None]
            spread = self.write.transpose(0, 1)  # [L, T]
            self.keys = self.keys * keep + torch.matmul(spread, key_states)
            self.values = self.values * keep + torch.matmul(spread, value_states)
            return self.keys, self.values

        def get_mask_sizes(self, query_length: int):
            return self.keys.shape[2], 0

        def get_seq_length(self) -> int:
            return 0

        def get_max_length(self) -> int:
            return self.keys.shape[2]

    return Cache(layers=[ExplicitLayer() for _ in range(num_layers)])


def grouped_query_attention(module, query, key, value, attention_mask, scaling, dropout=0.0, softcap=None, **kwargs):
    """Eager attention without ``repeat_kv``: query [B, H, T, D] grouped as [B, KV, H/KV*T, D]
    against key/value [B, KV, L, D]. Head h uses K/V head h // (H/KV), as ``repeat_kv`` does."""
    import torch

    if kwargs.get("sinks") is not None:
        raise NotImplementedError("attention sinks are not supported by mobilekit's KV-cache decoder")
    batch, heads, length, dim = query.shape
    kv_heads, cache = key.shape[1], key.shape[2]
    grouped = query.reshape(batch, kv_heads, (heads // kv_heads) * length, dim)
    scores = torch.matmul(grouped, key.transpose(2, 3)) * scaling
    scores = scores.reshape(batch, heads, length, cache)
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    if attention_mask is not None:
        scores = scores + attention_mask
    weights = torch.nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    out = torch.matmul(weights.reshape(batch, kv_heads, (heads // kv_heads) * length, cache), value)
    return out.reshape(batch, heads, length, dim).transpose(1, 2).contiguous(), weights


def _register_gqa_attention() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(GQA_ATTENTION, grouped_query_attention)


def build_kv_decoder(model, spec: DecoderSpec):
    """``model`` (a loaded ``*ForCausalLM``) as the explicit-cache module described above."""
    import torch

    config = text_config(model.config)
    layer_types = list(getattr(config, "layer_types", None) or [])
    grouped = spec.kv_heads < (getattr(config, "num_attention_heads", None) or spec.kv_heads)
    if grouped:
        _register_gqa_attention()
    window = getattr(config, "sliding_window", None)
    cache_names = spec.cache_names()

    class KvDecoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.register_buffer("slots", torch.arange(spec.context_length, dtype=torch.int32), persistent=False)

        def forward(self, tokens, input_pos, **caches):
            positions = input_pos.to(torch.int32)
            write = (positions[:, None] == self.slots[None, :]).to(torch.float32)  # [T, L]
            visible = self.slots[None, :] <= positions[:, None]
            masks = {"full_attention": _additive(visible)}
            if "sliding_attention" in layer_types and window:
                masks["sliding_attention"] = _additive(visible & (self.slots[None, :] > positions[:, None] - window))
            cache = _explicit_cache(spec.num_layers)
            for i, layer in enumerate(cache.layers):
                layer.keys, layer.values = caches[f"kv_cache_k_{i}"], caches[f"kv_cache_v_{i}"]
                layer.write = write
            mask = {t: masks[t] for t in set(layer_types)} if layer_types else masks["full_attention"]
            previous = config._attn_implementation
            if grouped:  # only while this module runs: the model itself stays Hugging Face's eager
                config._attn_implementation = GQA_ATTENTION
            try:
                out = self.model(
                    input_ids=tokens.to(torch.long),
                    position_ids=positions.clamp(min=0).to(torch.long)[None, :],
                    attention_mask=mask,
                    cache=cache,
                    use_cache=True,
                )
            finally:
                config._attn_implementation = previous
            result = {"logits": out.logits.to(torch.float32)}
            for i, layer in enumerate(cache.layers):
                result[f"kv_cache_k_{i}"] = layer.keys
                result[f"kv_cache_v_{i}"] = layer.values
            return result

    def _additive(visible):
        return torch.where(visible, torch.tensor(0.0), torch.tensor(MASK_VALUE))[None, None, :, :]

    decoder = KvDecoder().eval()
    decoder.cache_names = cache_names
    return decoder


def empty_cache(spec: DecoderSpec) -> dict:
    import torch

    return {name: torch.zeros(spec.cache_shape(), dtype=torch.float32) for name in spec.cache_names()}


def sample_inputs(spec: DecoderSpec, length: int) -> dict:
    """Example kwargs for tracing the signature of ``length`` tokens (1 = decode)."""
    import torch

    return {"tokens": torch.zeros((1, length), dtype=torch.int32),
            "input_pos": torch.arange(length, dtype=torch.int32),
            **empty_cache(spec)}

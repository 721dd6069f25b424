"""The reference: the original PyTorch model, full forward and greedy with Hugging Face's cache."""

from __future__ import annotations


def full_logits(model, tokens: list[int]):
    """float32 logits [len(tokens), vocab] of one full forward (no cache)."""
    import torch

    with torch.no_grad():
        return model(torch.tensor([tokens], dtype=torch.long)).logits[0].float().numpy()


def greedy(model, prompt: list[int], new_tokens: int, stop_ids=()) -> list[int]:
    """Greedy continuation, same stopping rule as ``StepDecoder.greedy``."""
    import torch

    with torch.no_grad():
        out = model(torch.tensor([prompt], dtype=torch.long), use_cache=True)
        generated = []
        for _ in range(new_tokens):
            token = int(out.logits[0, -1].argmax())
            generated.append(token)
            if token in stop_ids or len(generated) == new_tokens:
                break
            out = model(torch.tensor([[token]], dtype=torch.long), cache=out.past_key_values, use_cache=True)
    return generated

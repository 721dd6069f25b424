"""The reference: the original PyTorch model, full forward and greedy with Hugging Face's cache."""

from __future__ import annotations

from mobilekit.llm.decoding import StepDecoder


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



class TorchStepDecoder(StepDecoder):
    """mobilekit's KV-cache decoder module itself, before any conversion, driven like a converted one."""

    def __init__(self, model, spec):
        from mobilekit.llm.kv_decoder import build_kv_decoder

        super().__init__(spec)
        self.module = build_kv_decoder(model, spec)
        self.reset_cache()

    def reset_cache(self) -> None:
        from mobilekit.llm.kv_decoder import empty_cache

        self.cache = empty_cache(self.spec)

    def run(self, signature: str, tokens: list[int], positions: list[int]):
        import torch

        with torch.no_grad():
            out = self.module(torch.tensor([tokens], dtype=torch.int32), torch.tensor(positions, dtype=torch.int32),
                              **self.cache)
        self.cache = {name: out[name] for name in self.cache}
        return out["logits"][0].numpy()

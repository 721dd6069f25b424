"""Training batches: every item once per epoch, reproducible, and with lengths, similar lengths together."""

from __future__ import annotations

import random

from mobilekit.compress.batches import batch_indices


def test_length_bucketed_batches_cover_everything_once_and_pad_less():
    rng = random.Random(0)
    lengths = [rng.choice((3, 4, 5, 60, 70)) for _ in range(1000)]
    plain = batch_indices(1000, 16, shuffle_seed=7)
    bucketed = batch_indices(1000, 16, shuffle_seed=7, lengths=lengths)
    assert sorted(i for b in bucketed for i in b) == list(range(1000))
    assert bucketed == batch_indices(1000, 16, shuffle_seed=7, lengths=lengths)
    assert bucketed != batch_indices(1000, 16, shuffle_seed=8, lengths=lengths)

    def padded(batches):  # tokens processed when each batch is padded to its longest item
        return sum(max(lengths[i] for i in b) * len(b) for b in batches)

    assert padded(bucketed) < 0.7 * padded(plain)

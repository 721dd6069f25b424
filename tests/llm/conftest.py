"""Fixtures shared by the causal-LM tests."""

import pytest


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models on a shared 2-core machine: a second torch thread only adds synchronisation."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

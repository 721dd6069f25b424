"""Causal language models (``model.task = "text-generation"``): what each stage does for them."""

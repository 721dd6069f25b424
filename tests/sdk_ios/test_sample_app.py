"""The iOS sample app (not buildable here) stays in step with the example project it uses."""

from __future__ import annotations

import re

from mobilekit.config import load_config
from tests.conftest import REPO_ROOT

APP = REPO_ROOT / "sample_apps" / "ios" / "MiniLMSample.swiftpm"


def test_sample_app_uses_the_names_the_example_project_generates():
    config = load_config(REPO_ROOT / "examples" / "minilm-embeddings" / "mobilekit.toml")
    module, class_name = config.ios.module, config.ios.class_name
    manifest = (APP / "Package.swift").read_text()
    assert f'.package(path: "../{module}")' in manifest
    assert f'.product(name: "{module}", package: "{module}")' in manifest
    sources = "\n".join(p.read_text() for p in sorted((APP / "Sources").glob("*.swift")))
    assert f"import {module}" in sources
    used = set(re.findall(r"\b([A-Z][A-Za-z0-9]*Embedder|[A-Z][A-Za-z0-9]*Classifier)\b", sources))
    assert used == {class_name}
    assert config.model.task == "sentence-embedding" and ".embed(" in sources

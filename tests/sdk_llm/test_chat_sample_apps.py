"""The chat sample apps (not buildable here) stay in step with the example project they use."""

from __future__ import annotations

import re

import pytest

from mobilekit.config import load_config
from tests.conftest import REPO_ROOT

EXAMPLE = REPO_ROOT / "examples" / "smollm2-chat"
ANDROID = REPO_ROOT / "sample_apps" / "android-chat"
IOS = REPO_ROOT / "sample_apps" / "ios" / "SmolChatSample.swiftpm"

# The LLM runtime's own types, the same in every generated SDK; anything else the apps import
# from the SDK is the generated model class.
RUNTIME_TYPES = {"ChatMessage", "ChatRole", "ChatSession", "GenerationConfig", "PromptTooLongException"}


def kotlin_sources() -> str:
    return "\n".join(p.read_text() for p in sorted((ANDROID / "app" / "src" / "main" / "kotlin").rglob("*.kt")))


def swift_sources() -> str:
    return "\n".join(p.read_text() for p in sorted((IOS / "Sources").glob("*.swift")))


@pytest.fixture(scope="module")
def config():
    config = load_config(EXAMPLE / "mobilekit.toml")
    assert config.model.task == "text-generation"
    return config


def test_android_chat_app_uses_the_names_the_example_project_generates(config):
    package, class_name = config.android.package, config.android.class_name
    settings = (ANDROID / "settings.gradle.kts").read_text()
    assert '"../../examples/smollm2-chat/build/generate/android"' in settings
    coordinates = f"{config.android.group_id}:{config.android.artifact_id}:{config.project.version}"
    assert coordinates in (ANDROID / "app" / "build.gradle.kts").read_text()

    sources = kotlin_sources()
    imported = set(re.findall(rf"^import {re.escape(package)}\.(\w+)$", sources, re.M))
    assert imported - RUNTIME_TYPES == {class_name}
    assert f"{class_name}.load(" in sources


def test_android_chat_app_streams_a_session_and_cancels_to_stop():
    sources = kotlin_sources()
    assert ".newSession()" in sources
    assert "session.send(" in sources and ".collect {" in sources
    assert "job?.cancel()" in sources and "session?.reset()" in sources
    assert ".catch {" in sources and "is PromptTooLongException" in sources


def test_ios_chat_app_uses_the_names_the_example_project_generates(config):
    module, class_name = config.ios.module, config.ios.class_name
    manifest = (IOS / "Package.swift").read_text()
    assert f'.package(path: "../{module}")' in manifest
    assert f'.product(name: "{module}", package: "{module}")' in manifest
    assert '.iOS("18.0")' in manifest  # multifunction Core ML models

    sources = swift_sources()
    assert f"import {module}" in sources
    constructed = set(re.findall(r"\btry (?:await )?([A-Z]\w*)\(", sources))
    assert constructed == {class_name}


def test_ios_chat_app_streams_a_session_and_cancels_to_stop():
    sources = swift_sources()
    assert re.search(r"for try await \w+ in session\.send\(", sources)
    assert "generation?.cancel()" in sources
    assert sources.count(".makeSession()") == 2  # the first chat, and each new one
    assert "GenerationError.promptTooLong" in sources

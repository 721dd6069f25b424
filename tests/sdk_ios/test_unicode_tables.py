"""The committed character tables are what the installed `tokenizers` really does."""

from __future__ import annotations

import pytest

from mobilekit.sdk.ios import unicode_tables


@pytest.mark.slow
def test_committed_tables_match_the_installed_tokenizers():
    measured = unicode_tables.measure()
    committed = unicode_tables.load()
    assert committed == measured, (
        "templates/ios/bert_unicode_tables.json is stale for tokenizers "
        f"{measured['tokenizers_version']}: regenerate with `python -m mobilekit.sdk.ios.unicode_tables`"
    )


def test_tables_hold_the_cases_the_platform_tables_get_wrong():
    classes = unicode_tables.load()["classes"]

    def contains(name, cp):
        return any(a <= cp <= b for a, b in classes[name])

    assert contains("removed", 0x200B) and contains("removed", 0x0000) and contains("removed", 0xFFFD)
    assert not contains("removed", 0x0890)  # Cf since Unicode 14; tokenizers keeps it
    assert contains("whitespace", 0x00A0) and contains("whitespace", 0x0009)
    assert contains("punctuation", ord("$")) and contains("punctuation", ord("¿"))
    assert not contains("punctuation", 0x2E43)  # punctuation since Unicode 10; tokenizers does not split it
    assert contains("nonspacing_marks", 0x0301)
    assert contains("chinese", ord("東")) and not contains("chinese", ord("は"))


def test_the_kotlin_and_swift_tables_are_generated_from_the_json():
    for path, text in unicode_tables.render_sources(unicode_tables.load()).items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is not what bert_unicode_tables.json gives: regenerate with `python -m mobilekit.sdk.ios.unicode_tables`")

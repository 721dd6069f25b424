"""The README's promises stay true: its config reference is the schema's, its commands exist."""

from __future__ import annotations

import re

from mobilekit.config.template import reference_markdown
from tests.conftest import REPO_ROOT


def readme() -> str:
    return (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def test_config_reference_matches_the_schema():
    text = readme()
    block = re.search(r"<!-- reference:start.*?-->\n(.*)<!-- reference:end -->", text, re.S)
    assert block, "README lost its reference markers"
    assert block.group(1) == reference_markdown(), "README is stale: regenerate with `python -m mobilekit.config.template README.md`"


def test_ci_runs_the_readme_test_command():
    test_command = "bash setup/install.sh && .venv/bin/python -m pytest -q"
    assert test_command in readme()
    assert test_command in (REPO_ROOT / ".ci" / "run").read_text()


def test_readme_main_job_points_at_a_real_example():
    match = re.search(r"mobilekit build -c (\S+)", readme())
    assert match and (REPO_ROOT / match.group(1)).is_file()

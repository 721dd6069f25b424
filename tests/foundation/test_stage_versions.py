"""A stage's version is the hash of its code: every declared source exists, compiled caches do
not count, and an edit to a source changes the version (so a cached output is never stale)."""

from __future__ import annotations

from mobilekit.fsutil import sha256_code
from mobilekit.stages import stage_instances
from mobilekit.stages.base import code_version


def test_every_stage_has_a_code_version():
    versions = {name: code_version(stage) for name, stage in stage_instances().items()}
    assert len(versions) == 9 and all(len(v) == 16 for v in versions.values())


def test_the_code_hash_follows_sources_and_ignores_compiled_caches(tmp_path):
    (tmp_path / "module.py").write_text("A = 1\n")
    before = sha256_code(tmp_path)
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "module.cpython-311.pyc").write_bytes(b"\x00compiled")
    assert sha256_code(tmp_path) == before
    (tmp_path / "module.py").write_text("A = 2\n")
    assert sha256_code(tmp_path) != before

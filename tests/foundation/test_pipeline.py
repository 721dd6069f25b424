"""The pipeline engine: caching, invalidation, --force/--from/--to, atomicity, failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from mobilekit.config import load_config
from mobilekit.errors import BuildLockedError, ConversionError, MobilekitError
from mobilekit.manifest import Manifest
from mobilekit.pipeline import select_stages
from tests.conftest import REPO_ROOT
from tests.foundation import fake_stages
from tests.foundation.fake_stages import ORDER, RUNS, make_pipeline


@pytest.fixture(autouse=True)
def _clear_runs():
    RUNS.clear()


def build(path, overrides=(), selected=ORDER, **kwargs):
    return make_pipeline(load_config(path, overrides)).run(list(selected), **kwargs)


def outcomes(result):
    return {o.name: o.status for o in result.outcomes}


def test_first_run_records_every_artifact_with_sha_stage_and_parameters(project, tmp_path):
    path = project()
    build(path)
    assert RUNS == ["upstream", "middle", "sdk"]
    manifest = json.loads((tmp_path / "build" / "manifest.json").read_text())
    artifact = manifest["artifacts"]["middle/variants"]
    assert artifact["stage"] == "middle" and artifact["kind"] == "dir" and len(artifact["sha256"]) == 64
    assert artifact["parameters"] == {"samples": 200}
    assert artifact["path"] == "middle/variants"
    stage = manifest["stages"]["middle"]
    assert stage["status"] == "ok" and stage["duration_s"] >= 0 and stage["error"] is None
    assert stage["metrics"]["seen_metadata"] == {"sequence_length": 128}  # metadata flows downstream
    assert manifest["artifacts"]["source/model"]["kind"] == "dir"
    assert (tmp_path / "build" / "sdk" / "MovieSentimentClassifier.kt").exists()


def test_rerun_with_nothing_changed_does_no_work(project):
    path = project()
    build(path)
    RUNS.clear()
    started = time.monotonic()
    result = build(path)
    assert RUNS == []
    assert set(outcomes(result).values()) == {"cached"}
    assert time.monotonic() - started < 5


def test_changing_an_sdk_option_reruns_only_downstream(project):
    path = project()
    build(path)
    RUNS.clear()
    result = build(path, ["android.class_name=ReviewClassifier"])
    assert RUNS == ["sdk"]
    assert outcomes(result) == {"upstream": "cached", "middle": "cached", "sdk": "ran"}


def test_changing_a_middle_parameter_reruns_it_and_what_follows(project):
    path = project()
    build(path)
    RUNS.clear()
    build(path, ["verify.samples=10"])
    assert RUNS == ["middle", "sdk"]


def test_changing_the_model_folder_reruns_everything(project, tmp_path):
    path = project()
    build(path)
    RUNS.clear()
    (tmp_path / "model" / "config.json").write_text('{"model_type": "bert", "changed": true}')
    build(path)
    assert RUNS == ["upstream", "middle", "sdk"]


def test_same_content_upstream_output_does_not_invalidate_downstream(project, tmp_path):
    path = project()
    build(path)
    RUNS.clear()
    build(path, force={"upstream"})  # same inputs -> same bytes -> same sha256
    assert RUNS == ["upstream"]


def test_tampered_artifact_is_detected_and_rebuilt(project, tmp_path):
    path = project()
    build(path)
    RUNS.clear()
    (tmp_path / "build" / "middle" / "variants" / "v1.txt").write_text("corrupted")
    build(path)
    assert RUNS == ["middle"]  # rebuilt identically, so sdk's inputs did not change
    assert "corrupted" not in (tmp_path / "build" / "middle" / "variants" / "v1.txt").read_text()


def test_deleted_artifact_is_rebuilt(project, tmp_path):
    path = project()
    build(path)
    RUNS.clear()
    import shutil

    shutil.rmtree(tmp_path / "build" / "upstream")
    build(path)
    assert RUNS == ["upstream"]


def test_force_and_selection(project):
    path = project()
    build(path)
    RUNS.clear()
    build(path, force=set(ORDER))
    assert RUNS == list(ORDER)
    RUNS.clear()
    build(path, ["verify.samples=3"], selected=["upstream", "middle"])
    assert RUNS == ["middle"]


def test_from_a_stage_whose_inputs_are_missing_says_what_to_run(project):
    path = project()
    with pytest.raises(MobilekitError) as info:
        build(path, selected=["middle"])
    assert "needs 'model' from stage 'upstream'" in info.value.message
    assert "mobilekit build --to middle" in info.value.hint


def test_select_stages_validates_names_and_order():
    assert select_stages("convert", "verify") == ["convert", "verify"]
    assert select_stages(None, "export") == ["finetune", "distill", "export"]
    with pytest.raises(MobilekitError, match="unknown stage"):
        select_stages("compile", None)
    with pytest.raises(MobilekitError, match="comes after"):
        select_stages("verify", "export")


def test_failed_stage_keeps_previous_outputs_records_the_error_and_reruns_next_time(project, tmp_path, monkeypatch):
    path = project()
    build(path)
    before = (tmp_path / "build" / "middle" / "variants" / "v0.txt").read_text()
    RUNS.clear()
    monkeypatch.setenv("FAKE_MIDDLE_FAIL", "1")
    with pytest.raises(ConversionError):
        build(path, ["verify.samples=5"])
    manifest = Manifest.load(tmp_path / "build")
    assert manifest.stages["middle"].status == "failed"
    assert manifest.stages["middle"].error["message"] == "converter exploded"
    assert (tmp_path / "build" / "middle" / "variants" / "v0.txt").read_text() == before  # nothing built is lost
    assert not any((tmp_path / "build" / ".staging").glob("*"))
    assert RUNS == ["middle"]  # sdk did not run on top of a failure
    monkeypatch.delenv("FAKE_MIDDLE_FAIL")
    RUNS.clear()
    build(path, ["verify.samples=5"])
    assert RUNS == ["middle", "sdk"]


def test_kill_9_in_the_middle_of_a_stage_then_rerun_gives_the_right_result(project, tmp_path):
    path = project()
    build(path)
    good = (tmp_path / "build" / "middle" / "variants" / "v0.txt").read_text()
    path.write_text(path.read_text().replace("[model]", "[verify]\nsamples = 7\n\n[model]"))
    env = {**os.environ, "FAKE_MIDDLE_SLOW": "1", "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen([sys.executable, "-m", "tests.foundation.fake_stages", str(path)], cwd=REPO_ROOT, env=env)
    marker = tmp_path / "build" / "middle-started"
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the slow stage never started"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    # The half-written stage left a staging folder; the published folder still holds the old run.
    assert (tmp_path / "build" / "middle" / "variants" / "v0.txt").read_text() == good
    RUNS.clear()
    build(path)
    assert RUNS == ["middle", "sdk"]
    assert (tmp_path / "build" / "middle" / "variants" / "v0.txt").read_text().endswith("|0|7")
    assert len(list((tmp_path / "build" / "middle" / "variants").iterdir())) == 3
    assert not (tmp_path / "build" / ".staging").exists() or not any((tmp_path / "build" / ".staging").iterdir())


def test_crash_between_publishing_and_recording_is_detected(project, tmp_path, monkeypatch):
    """Outputs moved into place but the manifest not yet written: sha256 mismatch -> rerun."""
    path = project()
    build(path)
    RUNS.clear()
    from mobilekit import manifest as manifest_module

    real_save = manifest_module.Manifest.save

    def crash_when_middle_is_recorded(self):
        record = self.stages.get("middle")
        if record and record.status == "ok" and record.parameters == {"samples": 9}:
            raise KeyboardInterrupt  # the process dies right here
        real_save(self)

    monkeypatch.setattr(manifest_module.Manifest, "save", crash_when_middle_is_recorded)
    with pytest.raises(KeyboardInterrupt):
        build(path, ["verify.samples=9"])
    monkeypatch.undo()
    assert RUNS == ["middle"]
    assert (tmp_path / "build" / "middle" / "variants" / "v0.txt").read_text().endswith("|9")
    RUNS.clear()
    build(path, ["verify.samples=9"])
    assert "middle" in RUNS and "sdk" in RUNS


def test_corrupt_manifest_means_rebuild_not_crash(project, tmp_path):
    path = project()
    build(path)
    (tmp_path / "build" / "manifest.json").write_text("{not json")
    RUNS.clear()
    build(path)
    assert RUNS == list(ORDER)


def test_second_process_on_the_same_build_dir_is_refused(project, tmp_path):
    path = project()
    build(path)
    import fcntl

    with open(tmp_path / "build" / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(BuildLockedError, match="another mobilekit process"):
            build(path)


def test_enabled_but_unavailable_stage_is_an_error_and_a_disabled_one_a_skip(project):
    from mobilekit.errors import StageNotAvailableError
    from mobilekit.pipeline import Pipeline
    from mobilekit.stages.base import Stage

    class Planned(Stage):
        NAME = "planned"
        SUMMARY = "test"
        AVAILABLE = False
        REQUIRED_WHEN_ENABLED = True

        def skip_reason(self, config):
            return None if config.finetune.enabled else "finetune.enabled = false"

    def run(config_path, overrides=()):
        pipeline = Pipeline(load_config(config_path, overrides), stages={"planned": Planned()}, order=("planned",))
        return pipeline.run(["planned"])

    path = project()
    assert outcomes(run(path)) == {"planned": "skipped"}
    (path.parent / "train.csv").write_text("text,label\ngood,1\n")
    with pytest.raises(StageNotAvailableError, match="not available") as info:
        run(path, ['data.path="train.csv"', "finetune.enabled=true"])
    assert info.value.EXIT_CODE == 11

import numpy as np
import pytest

from mobilekit.errors import ModelInputError, VerificationError
from mobilekit.verify.parity import (
    DEFAULT_TOLERANCES,
    Tolerance,
    compare,
    default_tolerance,
    macro_f1,
    raise_on_failure,
)

REF = np.array([[2.0, -1.0], [-1.0, 3.0], [0.5, 0.4], [-2.0, 2.0]], dtype=np.float32)
LABELS = np.array([0, 1, 0, 1])


def test_identical_outputs_pass_float32():
    r = compare(REF, REF.copy(), task="text-classification", labels=LABELS, tolerance=default_tolerance("float32"))
    assert r.passed and r.failures == []
    assert r.check("max_abs_diff").value == 0.0
    assert r.check("argmax_agreement").value == 1.0
    assert r.metrics["reference_accuracy"] == r.metrics["candidate_accuracy"] == 1.0
    assert r.to_dict()["passed"] is True
    assert all(line.startswith("pass") for line in r.lines())


def test_flipped_prediction_fails_agreement_and_accuracy():
    cand = REF.copy()
    cand[2] = [0.4, 0.5]  # the near-tie flips
    r = compare(REF, cand, task="text-classification", labels=LABELS, tolerance=default_tolerance("float32"))
    assert not r.passed
    assert r.check("argmax_agreement").value == 0.75
    assert r.check("accuracy_drop").value == pytest.approx(0.25)
    assert r.metrics["reference_macro_f1"] == 1.0
    assert r.metrics["candidate_macro_f1"] == pytest.approx(macro_f1([0, 1, 1, 1], LABELS))
    assert {c.name for c in r.failures} >= {"max_abs_diff", "argmax_agreement", "accuracy_drop", "macro_f1_drop"}
    with pytest.raises(VerificationError, match="full-int8 failed .* argmax_agreement = 0.75"):
        raise_on_failure(r, variant="full-int8")


def test_int8_tolerance_reports_diff_without_judging_it():
    cand = REF + 0.3
    r = compare(REF, cand, task="text-classification", labels=None, tolerance=default_tolerance("dynamic-int8"))
    assert r.passed
    c = r.check("max_abs_diff")
    assert c.value == pytest.approx(0.3, abs=1e-6) and not c.judged and c.line().startswith("info")
    assert "accuracy_drop" not in {c.name for c in r.checks}


def test_embeddings_cosine():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(8, 16)).astype(np.float32)
    cand = ref + rng.normal(scale=1e-3, size=ref.shape).astype(np.float32)
    r = compare(ref, cand, task="sentence-embedding", labels=None, tolerance=default_tolerance("float16"))
    assert r.passed and r.check("min_cosine").value > 0.999
    cand[3] = -ref[3]
    r = compare(ref, cand, task="sentence-embedding", labels=None, tolerance=default_tolerance("full-int8"))
    assert r.check("min_cosine").value == pytest.approx(-1.0, abs=1e-3)
    assert not r.check("min_cosine").passed and not r.passed


def test_nan_fails():
    cand = REF.copy()
    cand[0, 0] = np.nan
    r = compare(REF, cand, task="text-classification", labels=None, tolerance=Tolerance(max_abs_diff=1.0))
    assert not r.check("max_abs_diff").passed


def test_bad_arguments():
    with pytest.raises(VerificationError, match="output shapes differ"):
        compare(REF, REF[:2], task="text-classification", labels=None, tolerance=Tolerance())
    with pytest.raises(ModelInputError, match="unknown task"):
        compare(REF, REF, task="ner", labels=None, tolerance=Tolerance())
    with pytest.raises(ModelInputError, match="3 labels for 4 outputs"):
        compare(REF, REF, task="text-classification", labels=LABELS[:3], tolerance=Tolerance())
    with pytest.raises(ModelInputError, match="no default tolerance"):
        default_tolerance("int4")


def test_tolerance_families_are_ordered():
    f32, f16 = DEFAULT_TOLERANCES["float32"], DEFAULT_TOLERANCES["float16"]
    assert f32.max_abs_diff < f16.max_abs_diff
    assert DEFAULT_TOLERANCES["full-int8"].min_agreement <= DEFAULT_TOLERANCES["dynamic-int8"].min_agreement <= f16.min_agreement
    assert default_tolerance("onnx") == f32


def test_macro_f1():
    assert macro_f1([0, 0, 1, 1], [0, 0, 1, 1]) == 1.0
    assert macro_f1([0, 0, 0, 0], [0, 0, 1, 1], num_classes=2) == pytest.approx((2 / 3 + 0) / 2)

"""Real tiny models, SdkInputs built directly, and the (slow) Android builds shared by the tests.

kotlinc is the cost here (a cold run is 10-60 s on a loaded 2-core box), so the builds are
started once per session on two worker threads, and several modules with different packages are
compiled in one kotlinc run where the test allows it.
"""

from __future__ import annotations

import concurrent.futures
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from mobilekit.sdk.bucket_goldens import bucket_goldens
from mobilekit.sdk.golden import TOKENIZER_CORPUS, fuzz_goldens_text, output_goldens, tokenization_goldens
from mobilekit.sdk.inputs import SdkInputs, TokenizerSettings
from tests.sdk_ios.inputs import ADDED_TOKEN_TEXTS, add_flagged_tokens
from tests.tiny_models import make_tiny_bert
from tests.conftest import toolchain_missing

SEQUENCE_LENGTH = 16  # the tiny models' conversion length (not the hidden size 32: onnx2tf bug)
# Beyond the shared corpus: special tokens written in the text (matched verbatim by the Hugging
# Face tokenizer, [mask] in lower case is not one), Turkish dotted capital I, final sigma.
EXTRA_TEXTS = ("good [SEP] movie", "good[MASK]movie", "good [mask] movie", "İstanbul ΣΑΣ σας", "[CLS]")
CORPUS = TOKENIZER_CORPUS + EXTRA_TEXTS
# For the models with added tokens of every kind (add_flagged_tokens): the texts the Swift package
# is checked with too.
ADDED_TOKEN_CORPUS = tuple(dict.fromkeys(CORPUS + ADDED_TOKEN_TEXTS))

BUCKET_SIGNATURES = {4: "seq_4", 8: "seq_8", SEQUENCE_LENGTH: "serving_default"}

HOSTILE_LABELS = [
    'say "hi"',
    "price $5 ${x} $",
    "back\\slash \\n \\u0041",
    "two\nlines\r\tand tab",
    "naïve 日本 😀 \u200b\u202e",
    "*/ /* // <tag> &amp;",
    "",
    "fun",
]

HOSTILE_PROJECT_NAME = 'Movie "sentiment" */ /* $x ${y} \\ <b>&amp; naïve 😀\nline'


def model_settings(model_dir: Path) -> TokenizerSettings:
    from mobilekit.modelinfo import tokenizer_settings

    return TokenizerSettings.from_declared(tokenizer_settings(model_dir))


def sdk_inputs(model_dir: Path, tflite: Path, *, task: str = "text-classification", labels=None,
               package: str = "com.example.sentiment", class_name: str = "SentimentClassifier",
               artifact_id: str = "sentiment", sequence_length: int = SEQUENCE_LENGTH, texts=CORPUS) -> SdkInputs:
    """SdkInputs as the generate stage builds them, from a real model folder (goldens from its own tokenizer)."""
    vocab = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    if task == "text-classification":
        labels = labels or ["negative", "positive"]
        # raw logits chosen to hit the interesting cases: a tie, large magnitudes, negative values
        raw = [[(i * 0.7) % 3 - 1.0 for i in range(k, k + len(labels))] for k in range(4)] + [[0.0] * len(labels), [300.0] + [-300.0] * (len(labels) - 1)]
    else:
        labels = None
        raw = [[0.6, 0.8, 0.0], [1.0, 0.0, 0.0], [-0.28, 0.96, 0.0]]
    return SdkInputs(
        project_name="Movie sentiment", version="1.2.0", task=task, labels=labels, sequence_length=sequence_length,
        normalize=True if task == "sentence-embedding" else None, tokenizer=model_settings(model_dir),
        vocab=vocab, vocab_file=model_dir / "vocab.txt", model_sha256="0" * 64, mobilekit_version="0.1.0",
        android_package=package, android_class_name=class_name, android_group_id=package,
        android_artifact_id=artifact_id, android_min_sdk=23, tflite_model=tflite, tflite_variant="float32",
        ios_module="SentimentKit", ios_class_name=class_name, coreml_model=None, coreml_variant=None,
        tokenization_goldens=tokenization_goldens(model_dir, sequence_length, texts),
        output_goldens=output_goldens(raw, [f"text {i}" for i in range(len(raw))], task=task, labels=labels),
        fuzz_goldens=fuzz_goldens_text(model_dir, sequence_length),
    )


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("android-models")
    return {
        "uncased": make_tiny_bert(root / "uncased", labels=["negative", "positive"]),
        # Both with added tokens of every kind (single word, strip left/right, normalized, outside
        # the vocabulary), normalized by a cased and an uncased normalizer.
        "cased": add_flagged_tokens(make_tiny_bert(root / "cased", cased=True, num_labels=len(HOSTILE_LABELS),
                                                   labels=HOSTILE_LABELS, seed=1)),
        "embedder": add_flagged_tokens(make_tiny_bert(root / "embedder", task="sentence-embedding", seed=2)),
    }


@pytest.fixture(scope="session")
def placeholder_tflite(tmp_path_factory) -> Path:
    """Bytes standing in for a model in modules that are only compiled and JVM-tested (never loaded)."""
    path = tmp_path_factory.mktemp("placeholder") / "model.tflite"
    path.write_bytes(b"\x1c\x00\x00\x00TFL3 placeholder: never loaded on the JVM")
    return path


@pytest.fixture(scope="session")
def toolchain():
    from mobilekit.errors import ToolMissingError
    from mobilekit.sdk.android.packager import Toolchain

    try:
        return Toolchain.find(tests=True)
    except ToolMissingError as e:
        toolchain_missing(f"Android toolchain missing: {e.message} ({e.hint})")


def real_tflite(model_dir: Path, out: Path) -> Path:
    """The tiny classifier through mobilekit's real export + convert (float32)."""
    from mobilekit.convert.onnx_export import export_onnx
    from mobilekit.convert.tflite import convert_tflite

    info = export_onnx(model_dir, out / "model.onnx", task="text-classification", sequence_length=SEQUENCE_LENGTH)
    return convert_tflite(info.path, out / "tflite", variants=["float32"], calibration=None)["float32"]


class Builds:
    """The slow builds, run on two threads; each property waits for its own result only."""

    def __init__(self, root: Path, models: dict, placeholder: Path, toolchain):
        from mobilekit.sdk.android import packager
        from mobilekit.sdk.android.generator import generate_android

        self.root = root
        self.toolchain = toolchain
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="android-build")
        self._pool = pool

        def tflite():
            return real_tflite(models["uncased"], root / "convert")

        def main_module(name: str, run_tests: bool):
            module = root / name / "module"
            generate_android(sdk_inputs(models["uncased"], self._tflite.result()), module)
            return module, packager.package_android(module, root / name / "out", run_tests=run_tests)

        # Submission order matters: a job only waits on jobs submitted before it (no deadlock).
        self._tflite = pool.submit(tflite)
        self._variants = pool.submit(self._build_variants, models, placeholder)
        self._main = pool.submit(main_module, "main", True)
        self._rebuild = pool.submit(main_module, "rebuild", False)

    def _build_variants(self, models: dict, placeholder: Path):
        """Three more modules, one kotlinc run for their sources and one for their tests.

        - hostile: cased vocab, labels full of quotes/$/backslashes/newlines/non-ASCII, soft-keyword package
        - embedder: sentence-embedding task
        - bucketed: length buckets 4, 8, 16 with their edge goldens
        (both with added tokens of every kind, and goldens for ADDED_TOKEN_CORPUS)
        - broken: a deliberately wrong golden, to show a failing generated test becomes SdkBuildError
        """
        from mobilekit.sdk.android import packager
        from mobilekit.sdk.android.generator import generate_android
        from mobilekit.sdk.android.template import load_template

        variants = {
            "hostile": replace(sdk_inputs(models["cased"], placeholder, labels=HOSTILE_LABELS, package="com.example.value.data.open",
                                          class_name="Open", artifact_id="hostile", texts=ADDED_TOKEN_CORPUS),
                               project_name=HOSTILE_PROJECT_NAME),
            "embedder": sdk_inputs(models["embedder"], placeholder, task="sentence-embedding", package="com.example.embedder",
                                   class_name="TextEmbedder", artifact_id="embedder", texts=ADDED_TOKEN_CORPUS),
        }
        # length buckets 4, 8, 16: the bucket choice and the cut inputs against Python's at every edge
        variants["bucketed"] = replace(
            sdk_inputs(models["uncased"], placeholder, package="com.example.bucketed", artifact_id="bucketed", texts=CORPUS[:3]),
            bucket_signatures=dict(BUCKET_SIGNATURES), bucket_goldens=bucket_goldens(models["uncased"], list(BUCKET_SIGNATURES)))
        broken = sdk_inputs(models["uncased"], placeholder, package="com.example.broken", artifact_id="broken", texts=CORPUS[:3])
        good = broken.tokenization_goldens
        wrong = replace(good[1], input_ids=[good[1].input_ids[0], 4242, *good[1].input_ids[2:]])
        variants["broken"] = replace(broken, tokenization_goldens=[good[0], wrong, good[2]])
        modules = {}
        for name, inputs in variants.items():
            modules[name] = self.root / "variants" / name
            generate_android(inputs, modules[name])
        template = load_template()
        paths = {name: packager.read_module(m)["paths"] for name, m in modules.items()}
        classes, test_classes = self.root / "variants-classes", self.root / "variants-test-classes"
        packager.compile_main(self.toolchain, [modules[n] / paths[n]["kotlin_main"] for n in modules], classes,
                              module_name="variants", kotlinc=template.settings["kotlinc"])
        packager.compile_tests(self.toolchain, [modules[n] / paths[n]["kotlin_test"] for n in modules], classes, test_classes,
                               module_name="variants", kotlinc=template.settings["kotlinc"])
        results = {}
        for name, module in modules.items():
            results[name] = packager.run_junit(self.toolchain, [classes], test_classes, package=variants[name].android_package,
                                               module_dir=module, reports_dir=self.root / "variants-junit" / name,
                                               resources=module / paths[name]["test_resources"])
        return {"modules": modules, "inputs": variants, "results": results, "classes": classes}

    @property
    def main(self):
        return self._main.result()

    @property
    def rebuild(self):
        return self._rebuild.result()

    @property
    def variants(self):
        return self._variants.result()

    @property
    def tflite(self) -> Path:
        return self._tflite.result()

    def submit(self, fn, *args):
        return self._pool.submit(fn, *args)

    def close(self):
        self._pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def builds(tmp_path_factory, tiny_models, placeholder_tflite, toolchain):
    root = tmp_path_factory.mktemp("android-builds")
    builds = Builds(root, tiny_models, placeholder_tflite, toolchain)
    yield builds
    builds.close()
    shutil.rmtree(root, ignore_errors=True)

"""The generated library for real: kotlinc against android.jar API 23, JUnit on the JVM, the .aar,
its POM, reproducibility, and consumers (Kotlin 2.x, Kotlin 1.9, Java) compiling against it.

What cannot run here: the wrapper class on a device (no Android runtime, no LiteRT for Android)
and the Android Gradle plugin. See docs/android.md.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from mobilekit.errors import SdkBuildError
from mobilekit.sdk.android.aar import aar_problems
from mobilekit.sdk.android.packager import KOTLINC_JVM_FLAGS, LITERT_STUB_MIRRORS, raise_for_failures
from mobilekit.toolchains.process import run
from mobilekit.toolchains.tools import mobilekit_home
from tests.sdk_android.conftest import ADDED_TOKEN_CORPUS, CORPUS, HOSTILE_LABELS

pytestmark = pytest.mark.slow

MODEL_ENTRY = "assets/mobilekit/com.example.sentiment/model.tflite"
# A Kotlin 1.9 compiler (npm kotlin-compiler@1.9.25): kotlinc 2.4 no longer accepts -language-version 1.9.
KOTLINC_19 = Path(os.environ.get("MOBILEKIT_KOTLINC_19", mobilekit_home() / "kotlin-1.9" / "node_modules" / "kotlin-compiler" / "bin" / "kotlinc"))


def _results(out_dir: Path) -> dict:
    return json.loads((out_dir / "junit-results.json").read_text())


# -- the generated JUnit tests --------------------------------------------------------------------


def test_generated_tests_pass_for_the_uncased_vocab(builds):
    module, result = builds.main
    m = result.metrics
    assert m["tests_failed"] == 0 and m["tests_run"] == m["tests_passed"] > len(CORPUS)
    tests = _results(result.files["aar"].parent)["tests"]
    corpus = [name for name in tests if ".TokenizerGoldenTest.corpus" in name]
    assert len(corpus) == len(CORPUS) and {tests[n] for n in corpus} == {"passed"}
    assert tests["com.example.sentiment.ConstantsTest.labelsKeepTheirExactText"] == "passed"
    assert tests["com.example.sentiment.ConstantsTest.modelAssetIsTheGeneratedOne"] == "passed"
    assert tests["com.example.sentiment.ConstantsTest.addedTokensKeepTheirExactTextAndIds"] == "passed"
    assert sum(1 for n in tests if ".PostProcessingGoldenTest.output" in n) == 6
    # Typed special and added tokens of every kind, ids measured with `tokenizers`.
    added = [name for name in tests if ".AddedTokenTest." in name]
    assert len(added) == 5 and {tests[n] for n in added} == {"passed"}


def test_generated_tests_pass_for_the_cased_vocab_with_hostile_labels(builds):
    result = builds.variants["results"]["hostile"]
    assert result.failed == 0, result.failures
    # The model has added tokens of every kind: its goldens include texts that type them.
    corpus = [n for n, status in result.tests.items() if ".TokenizerGoldenTest.corpus" in n and status == "passed"]
    assert len(corpus) == len(ADDED_TOKEN_CORPUS)
    assert result.tests["com.example.value.data.open.ConstantsTest.addedTokensKeepTheirExactTextAndIds"] == "passed"
    # The compiled LABELS equal, code point for code point, the labels Python holds (the test
    # compares against code point lists, so a wrong escape cannot pass by being wrong twice).
    assert result.tests["com.example.value.data.open.ConstantsTest.labelsKeepTheirExactText"] == "passed"
    assert sum(1 for n in result.tests if ".PostProcessingGoldenTest.output" in n) == 6
    labels_asset = builds.variants["modules"]["hostile"] / "src/main/assets/mobilekit/com.example.value.data.open/labels.json"
    assert json.loads(labels_asset.read_text()) == HOSTILE_LABELS


def test_generated_tests_pass_for_an_embedder(builds):
    result = builds.variants["results"]["embedder"]
    assert result.failed == 0, result.failures
    assert sum(1 for n in result.tests if ".PostProcessingGoldenTest.output" in n) == 3
    assert sum(1 for n in result.tests if ".TokenizerGoldenTest.corpus" in n) == len(ADDED_TOKEN_CORPUS)


def test_generated_tests_pick_each_length_bucket_as_python_does(builds):
    result = builds.variants["results"]["bucketed"]
    assert result.failed == 0, result.failures
    edges = [n for n, status in result.tests.items() if ".LengthBucketTest.edge" in n and status == "passed"]
    # token counts 3-5, 7-9 and 15-17 around buckets 4, 8 and 16, and 35 (truncated to 16)
    assert len(edges) == len(builds.variants["inputs"]["bucketed"].bucket_goldens) == 10
    assert any(n.endswith("Tokens16Bucket16") for n in edges)  # 17 and 35 tokens: truncated to 16
    assert result.tests["com.example.bucketed.LengthBucketTest.bucketsAscendToTheSequenceLength"] == "passed"
    # a one-bucket module still checks that its one bucket is the sequence length
    assert builds.variants["results"]["embedder"].tests[
        "com.example.embedder.LengthBucketTest.bucketsAscendToTheSequenceLength"] == "passed"


def test_a_failing_generated_test_becomes_an_sdk_build_error(builds):
    result = builds.variants["results"]["broken"]
    assert result.failed == 1 and result.passed == result.run - 1
    with pytest.raises(SdkBuildError) as caught:
        raise_for_failures(result, builds.variants["modules"]["broken"])
    assert "1 of" in caught.value.message and "TokenizerGoldenTest.corpus01" in caught.value.message
    assert "input_ids" in caught.value.message  # the assertion text of the failing test is shown


# -- the .aar and the POM -------------------------------------------------------------------------


def test_aar_layout(builds):
    module, result = builds.main
    aar = result.files["aar"]
    assert aar.name == "sentiment-1.2.0.aar"
    assert aar_problems(aar, model_entry=MODEL_ENTRY) == []
    with zipfile.ZipFile(aar) as archive:
        names = archive.namelist()
        assert names == sorted(names)
        assert {"AndroidManifest.xml", "classes.jar", "R.txt", "proguard.txt",
                "META-INF/com/android/build/gradle/aar-metadata.properties",
                "assets/mobilekit/com.example.sentiment/vocab.txt", "assets/mobilekit/com.example.sentiment/labels.json",
                "assets/mobilekit/com.example.sentiment/manifest.json", MODEL_ENTRY} <= set(names)
        model = archive.getinfo(MODEL_ENTRY)
        assert model.compress_type == zipfile.ZIP_STORED
        assert archive.read(MODEL_ENTRY) == builds.tflite.read_bytes()
        manifest = ET.fromstring(archive.read("AndroidManifest.xml"))
        assert manifest.get("package") == "com.example.sentiment"
        android = "{http://schemas.android.com/apk/res/android}"
        assert manifest.find("uses-sdk").get(f"{android}minSdkVersion") == "23"
        assert b"-keep class org.tensorflow.lite.**" in archive.read("proguard.txt")
        with zipfile.ZipFile(io.BytesIO(archive.read("classes.jar"))) as jar:
            classes = jar.namelist()
    assert not [n for n in classes if n.startswith("org/")], "the LiteRT stub must never be packaged"
    assert "com/example/sentiment/SentimentClassifier.class" in classes
    assert "com/example/sentiment/WordPieceTokenizer.class" in classes
    assert "META-INF/com.example.sentiment_sentiment.kotlin_module" in classes
    assert not [n for n in classes if "Test" in n], "tests stay out of the library"


def test_pom_declares_the_runtime(builds):
    _, result = builds.main
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    pom = ET.parse(result.files["pom"]).getroot()
    assert pom.findtext("m:groupId", namespaces=ns) == "com.example.sentiment"
    assert pom.findtext("m:artifactId", namespaces=ns) == "sentiment"
    assert pom.findtext("m:version", namespaces=ns) == "1.2.0"
    assert pom.findtext("m:packaging", namespaces=ns) == "aar"
    deps = {f"{d.findtext('m:groupId', namespaces=ns)}:{d.findtext('m:artifactId', namespaces=ns)}":
            (d.findtext("m:version", namespaces=ns), d.findtext("m:scope", namespaces=ns))
            for d in pom.iterfind("m:dependencies/m:dependency", ns)}
    group_artifact, version = LITERT_STUB_MIRRORS.rsplit(":", 1)
    assert deps[group_artifact] == (version, "runtime"), "the POM ships the LiteRT version the stub mirrors"
    assert deps["org.jetbrains.kotlinx:kotlinx-coroutines-android"][1] == "runtime"
    assert deps["org.jetbrains.kotlin:kotlin-stdlib"] == ("2.0.21", "compile")


def test_two_builds_are_byte_identical(builds):
    (_, first), (_, second) = builds.main, builds.rebuild
    assert first.files["aar"].parent != second.files["aar"].parent
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(first.files["aar"]) == digest(second.files["aar"]) == first.metrics["aar_sha256"]
    assert first.files["pom"].read_bytes() == second.files["pom"].read_bytes()


def test_packaged_model_has_the_tensors_the_wrapper_feeds(builds):
    """TfliteModel matches inputs by signature name and checks shapes; the real converted model agrees."""
    from ai_edge_litert.interpreter import Interpreter

    _, result = builds.main
    with zipfile.ZipFile(result.files["aar"]) as archive:
        interpreter = Interpreter(model_content=archive.read(MODEL_ENTRY))
    signature = interpreter.get_signature_list()["serving_default"]
    assert sorted(signature["inputs"]) == ["attention_mask", "input_ids", "token_type_ids"]
    assert signature["outputs"] == ["logits"]
    runner = interpreter.get_signature_runner("serving_default")
    for detail in runner.get_input_details().values():
        assert list(detail["shape"]) == [1, 16] and detail["dtype"].__name__ == "int32"
    assert list(runner.get_output_details()["logits"]["shape"]) == [1, 2]


# -- consumers ------------------------------------------------------------------------------------

KOTLIN_CONSUMER = """
package consumer

import android.content.Context
import com.example.sentiment.Label
import com.example.sentiment.ModelException
import com.example.sentiment.SentimentClassifier
import com.example.sentiment.WordPieceTokenizer

fun best(context: Context): String {
    val options = SentimentClassifier.Options(numThreads = 2, useXnnpack = false, maxSequenceLength = 8)
    return try {
        SentimentClassifier(context, options).use { model ->
            val labels: List<Label> = model.classify("what a film")
            labels.first().name + " " + labels.first().score + " " + model.encode("x").inputIds.size
        }
    } catch (e: ModelException) {
        e.message ?: "failed"
    }
}

suspend fun inBackground(model: SentimentClassifier): Label = model.classifyInBackground("text").first()

fun tokens(vocab: List<String>): List<String> =
    WordPieceTokenizer(vocab, SentimentClassifier.TOKENIZER_SETTINGS).tokenize("hello") + SentimentClassifier.LABELS
"""

JAVA_CONSUMER = """
package consumer;

import android.content.Context;
import com.example.sentiment.Label;
import com.example.sentiment.ModelException;
import com.example.sentiment.SentimentClassifier;
import java.util.List;

public final class JavaConsumer {
    public static String best(Context context) {
        SentimentClassifier.Options options = new SentimentClassifier.Options(2, true, SentimentClassifier.SEQUENCE_LENGTH);
        try (SentimentClassifier model = new SentimentClassifier(context, options)) {
            List<Label> labels = model.classify("what a film");
            return labels.get(0).getName() + labels.get(0).getScore() + SentimentClassifier.LABELS.size()
                + SentimentClassifier.MODEL_ASSET + new SentimentClassifier.Options().getNumThreads();
        } catch (ModelException e) {
            return e.getMessage();
        }
    }

    public static SentimentClassifier withDefaults(Context context) {
        return new SentimentClassifier(context);
    }
}
"""


@pytest.fixture(scope="module")
def consumers(builds, tmp_path_factory):
    """Kotlin 2.x, Kotlin 1.9 and Java consumers, compiled against classes.jar from the .aar (in parallel)."""
    root = tmp_path_factory.mktemp("consumers")
    toolchain = builds.toolchain
    _, result = builds.rebuild  # byte-identical to builds.main (test above), and ready sooner
    with zipfile.ZipFile(result.files["aar"]) as archive:
        (root / "classes.jar").write_bytes(archive.read("classes.jar"))
    (root / "kotlin").mkdir()
    (root / "kotlin" / "Consumer.kt").write_text(KOTLIN_CONSUMER)
    (root / "java" / "consumer").mkdir(parents=True)
    (root / "java" / "consumer" / "JavaConsumer.java").write_text(JAVA_CONSUMER)
    classpath = ":".join(map(str, [toolchain.android_jar, root / "classes.jar"]))

    def kotlin2():
        run([toolchain.kotlinc, *KOTLINC_JVM_FLAGS, "-no-jdk", "-jvm-target", "1.8", "-classpath",
             f"{classpath}:{toolchain.stdlib}", "-d", root / "out2", root / "kotlin"], timeout=900)
        return root / "out2"

    def kotlin19():
        # Kotlin 1.9 with its own stdlib (an app on 1.9 gets kotlin-stdlib 2.0.21 from our POM at
        # run time; for compiling, what matters is that 1.9 reads the library's metadata).
        if not KOTLINC_19.exists():
            return None
        run([KOTLINC_19, *KOTLINC_JVM_FLAGS, "-no-jdk", "-jvm-target", "1.8", "-classpath", classpath,
             "-d", root / "out19", root / "kotlin"], timeout=900)
        return root / "out19"

    def java():
        run(["javac", "--release", "8", "-Xlint:-options", "-cp", f"{classpath}:{toolchain.stdlib}", "-d", root / "outj",
             root / "java" / "consumer" / "JavaConsumer.java"], timeout=300)
        return root / "outj"

    return {"kotlin2": builds.submit(kotlin2), "kotlin19": builds.submit(kotlin19), "java": builds.submit(java)}


def test_kotlin_2_consumer_compiles(consumers):
    assert (consumers["kotlin2"].result() / "consumer" / "ConsumerKt.class").is_file()


def test_kotlin_1_9_consumer_compiles(consumers):
    out = consumers["kotlin19"].result()
    if out is None:
        pytest.fail(f"no Kotlin 1.9 compiler at {KOTLINC_19} (npm install --prefix "
                    f"{KOTLINC_19.parents[3]} kotlin-compiler@1.9.25, or set MOBILEKIT_KOTLINC_19)")
    assert (out / "consumer" / "ConsumerKt.class").is_file()


def test_java_consumer_compiles(consumers):
    assert (consumers["java"].result() / "consumer" / "JavaConsumer.class").is_file()

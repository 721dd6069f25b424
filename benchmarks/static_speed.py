"""Benchmark: how fast the static student's generated Kotlin runs, on the host JVM.

Not a test. Generates the Android library for a static model folder (``build/distill/model`` of a
``distill.student = "static"`` build), compiles its sources with kotlinc together with a small
``main`` that times, per text, the Kotlin tokenizer and ``StaticModel.output`` (the lookup, the mean,
the projection and the head), and prints p50/p90 in microseconds. The wrapper class itself needs
an Android Context and is compiled but never run; what it adds around these two calls is a
function call.

    .venv/bin/python benchmarks/static_speed.py <static model folder> <texts file, one per line> [--rounds 20]

The figures are for this host's JVM (HotSpot, after warm-up), not a phone; they compare with the
TFLite variants' host p50 in docs/benchmarks.md, measured on the same machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

MAIN = """
package {package}

import java.io.File
import java.nio.ByteBuffer

fun main(args: Array<String>) {{
    val assets = File(args[0])
    val texts = File(args[1]).readLines().filter {{ it.isNotBlank() }}
    val rounds = args[2].toInt()
    val vocab = ModelAssets.parseVocab(File(assets, "vocab.txt").readText()) ?: error("empty vocabulary")
    val tokenizer = WordPieceTokenizer(vocab, {class_name}.TOKENIZER_SETTINGS)
    val model = StaticModel(ByteBuffer.wrap(File(assets, "static_model.bin").readBytes()))
    val encodings = texts.map {{ tokenizer.encode(it, {class_name}.SEQUENCE_LENGTH) }}
    var sink = 0f
    repeat(3) {{ for (e in encodings) sink += model.output(e.inputIds, e.length)[0] }}  // warm-up (JIT)
    val tokenize = LongArray(texts.size * rounds)
    val output = LongArray(texts.size * rounds)
    var n = 0
    repeat(rounds) {{
        for (i in texts.indices) {{
            val t0 = System.nanoTime()
            val e = tokenizer.encode(texts[i], {class_name}.SEQUENCE_LENGTH)
            val t1 = System.nanoTime()
            sink += model.output(e.inputIds, e.length)[0]
            val t2 = System.nanoTime()
            tokenize[n] = t1 - t0
            output[n] = t2 - t1
            n++
        }}
    }}
    tokenize.sort()
    output.sort()
    fun us(v: LongArray, q: Double) = v[((v.size - 1) * q).toInt()] / 1000.0
    println("{{\\"texts\\": ${{texts.size}}, \\"rounds\\": $rounds, " +
        "\\"tokenize_p50_us\\": ${{us(tokenize, 0.5)}}, \\"tokenize_p90_us\\": ${{us(tokenize, 0.9)}}, " +
        "\\"model_p50_us\\": ${{us(output, 0.5)}}, \\"model_p90_us\\": ${{us(output, 0.9)}}, \\"sink\\": $sink}}")
}}
"""


def generate_module(model_dir: Path, out_dir: Path) -> tuple[Path, dict]:
    sys.path.insert(0, str(REPO))
    from mobilekit.config import load_config
    from mobilekit.sdk.android.generator import generate_android
    from mobilekit.sdk.static_inputs import build_static_sdk_inputs
    from tests.conftest import write_toml

    description = json.loads((model_dir / "static_model.json").read_text())
    project = out_dir / "project"
    project.mkdir(parents=True)
    config = load_config(write_toml(project / "mobilekit.toml", {
        "project": {"name": "Static speed"},
        "model": {"path": str(model_dir), "task": description["task"], "sequence_length": description["sequence_length"]},
    }))
    generate_android(build_static_sdk_inputs(config, model_dir), out_dir / "android")
    return out_dir / "android", json.loads((out_dir / "android" / "mobilekit-sdk.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("texts", type=Path)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    from mobilekit.toolchains.tools import android_jar_path, kotlin_lib_path, kotlinc_path

    with tempfile.TemporaryDirectory() as tmp:
        module, provenance = generate_module(args.model_dir.resolve(), Path(tmp))
        package, class_name = provenance["package"], provenance["class_name"]
        sources = module / provenance["paths"]["kotlin_main"]
        (sources / "Bench.kt").write_text(MAIN.format(package=package, class_name=class_name), encoding="utf-8")
        classes = Path(tmp) / "classes"
        lib = kotlin_lib_path()
        subprocess.run([str(kotlinc_path()), "-J-XX:TieredStopAtLevel=1", "-no-reflect", "-jvm-target", "1.8",
                        "-classpath", f"{android_jar_path()}:{lib / 'kotlinx-coroutines-core-jvm.jar'}",
                        "-d", str(classes), str(sources)], check=True, capture_output=True)
        assets = module / provenance["paths"]["assets_root"] / provenance["paths"]["asset_dir"]
        main_class = f"{package}.BenchKt"
        result = subprocess.run(["java", "-cp", f"{classes}:{lib / 'kotlin-stdlib.jar'}", main_class, str(assets),
                                 str(args.texts), str(args.rounds)], check=True, capture_output=True, text=True)
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        figures.pop("sink")
        figures["model_bytes"] = (assets / "static_model.bin").stat().st_size
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

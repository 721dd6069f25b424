"""Chat templates without Jinja and sampling identical in Python, Kotlin and Swift.

Python (mobilekit.llm.chat_template / sampling) is the reference: its prompts equal transformers'
apply_chat_template, and it writes goldens (sdk_goldens) that the real Kotlin files
(templates/android/llm, compiled by kotlinc against android.jar API 23, run by JUnit on the host
JVM) and Swift files (templates/ios/llm, Swift 6 in the trixie chroot) must reproduce exactly.
One kotlinc run and one `swift test` build per session.
"""

from __future__ import annotations

import math
import re
import shutil

import pytest

from mobilekit.errors import ModelInputError
from mobilekit.llm import sdk_sources as src
from mobilekit.llm.chat_template import (PYTHON_WHITESPACE, ChatRenderError, ChatTemplateShape, kotlin_shape_object,
                                         recognise_template, recognise_tokenizer, render, swift_shape_enum)
from mobilekit.llm.sampling import (CONTEXT_FULL, MAX_NEW_TOKENS, STOP_STRING, STOP_TOKEN, Sampler, SamplerConfig,
                                    SamplingError, SplitMix64, StopCriteria, StopTracker, det_exp, sample)
from mobilekit.llm.sdk_goldens import GOLDEN_FILE, python_chat, replay_sample, replay_stop
from tests.sdk_llm import sampling_goldens as sg
from tests.conftest import toolchain_missing

KOTLIN_PACKAGE = "com.example.llm.goldens"
GOLDEN_LINE = re.compile(r"^MOBILEKIT-GOLDENS (kotlin|swift) (\w+) (\d+) (\d+)$", re.M)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    from tests.tiny_lm import make_tiny_lm, train_tiny_lm

    folder = make_tiny_lm(tmp_path_factory.mktemp("llm") / "tiny-llama", "llama")
    return train_tiny_lm(folder, steps=80)  # peaked distributions, like a real model's


@pytest.fixture(scope="session")
def goldens(tmp_path_factory, tiny_model):
    return sg.build(tmp_path_factory.mktemp("llm-tokenizers"), tiny_model)


# -- chat templates: pure Python -------------------------------------------------------------------


def test_every_template_is_recognised_with_its_shape(goldens):
    shapes = goldens["shapes"]
    assert shapes["tiny_chatml"] == ChatTemplateShape("chatml", "", "You are a helpful assistant.")
    assert shapes["qwen2_5"].default_system == "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
    assert shapes["qwen3"] == ChatTemplateShape("chatml", "", None, qwen3_thinking=True)
    assert shapes["gemma3"] == ChatTemplateShape("gemma", "<bos>")
    if "smollm2" in shapes:
        assert shapes["smollm2"].default_system == "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    assert shapes["hostile_default"].default_system == sg.HOSTILE_SYSTEM  # quotes, $, \\, */, bidi, newline
    assert shapes["gemma3"].to_dict()["end_of_turn"] == "<end_of_turn>"
    assert ChatTemplateShape.from_dict(shapes["qwen3"].to_dict()) == shapes["qwen3"]


def test_render_equals_apply_chat_template_byte_for_byte(goldens):
    assert len(goldens["chats"]) >= 5 * len(sg.CONVERSATIONS) * 2
    for case in goldens["chats"]:
        assert python_chat(goldens["shapes"][case.shape], case) == case.expected, case.name


def test_the_real_smollm2_template_and_tokenizer():
    if not (sg.SMOLLM2_DIR / "chat_template.jinja").is_file():
        toolchain_missing("SmolLM2 is not installed (bash setup/install.sh smollm2)")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(sg.SMOLLM2_DIR))
    shape = recognise_tokenizer(tokenizer)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    assert render(shape, messages) == tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


@pytest.mark.parametrize("template", [
    "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}",  # unknown markup
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content | upper }}<|im_end|>\n{% endfor %}",  # changes text
    "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m.role }}\n{{ m.content }}<end_of_turn>\n{% endfor %}",
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{{ strftime_now('%Y') }}",
    "{% if messages %",  # not even Jinja
    "",
])
def test_an_unknown_template_is_a_clear_error(template):
    with pytest.raises(ModelInputError) as caught:
        recognise_template(template, {"bos_token": "<s>"})
    assert "chatml" in caught.value.hint and "gemma" in caught.value.hint


def test_render_rejects_what_no_template_accepts():
    shape = ChatTemplateShape("chatml")
    with pytest.raises(ChatRenderError):
        render(shape, [])
    with pytest.raises(ChatRenderError):
        render(shape, [{"role": "tool", "content": "x"}])
    with pytest.raises(ChatRenderError):
        render(ChatTemplateShape("gemma", "<bos>"), [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])


def test_the_hard_coded_whitespace_is_pythons():
    kotlin = (src.KOTLIN_DIR / "ChatPrompt.kt").read_text()
    swift = (src.SWIFT_DIR / "ChatPrompt.swift").read_text()
    expected = set(PYTHON_WHITESPACE)
    for text in (kotlin, swift):
        line = next(l for l in text.splitlines() if "0x1C" in l and "0x3000" in l)
        found = set()
        for low, high in re.findall(r"0x([0-9A-F]+)(?:\.\.\.?0x([0-9A-F]+))?", line):
            found |= set(range(int(low, 16), int(high or low, 16) + 1))
        assert found == expected


def test_generated_shape_code_escapes_hostile_text():
    shape = ChatTemplateShape("chatml", "", 'say "hi" $x ${y} \\ \n\u202e \U0001F600')
    kotlin = kotlin_shape_object(shape, "com.example.chat")
    assert 'defaultSystem = "say \\"hi\\" \\$x \\${y} \\\\ \\n\\u202E \\uD83D\\uDE00"' in kotlin
    swift = swift_shape_enum(shape)
    assert 'defaultSystem: "say \\"hi\\" $x ${y} \\\\ \\n\\u{202E} \U0001F600"' in swift


# -- sampling: pure Python -------------------------------------------------------------------------


def test_splitmix64_is_the_published_generator():
    assert SplitMix64(0).next_u64() == 0xE220A8397B1DCDAF  # Vigna's splitmix64.c, seed 0
    rng = SplitMix64(2**64 + 5)  # seeds are taken mod 2^64: -1 and 2^64 - 1 are one stream
    assert [SplitMix64(-1).next_u64()] == [SplitMix64(2**64 - 1).next_u64()] and rng.state == 5
    assert all(0.0 <= SplitMix64(s).next_double() < 1.0 for s in range(100))


def test_det_exp_is_accurate():
    for x in [0.0, -1e-9, -0.3, -1.0, -7.5, -29.9, -300.0, -708.0]:
        assert det_exp(x) == pytest.approx(math.exp(x), rel=1e-15, abs=0)
    assert det_exp(0.0) == 1.0 and det_exp(-709.0) == 0.0


def test_same_seed_same_tokens_other_seed_other_tokens(goldens):
    steps = goldens["logits"]["rand64"]

    def run(seed):
        return replay_sample(sg.SampleCase("x", "rand64", SamplerConfig(temperature=1.0, seed=seed), [], None), steps)

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_top_k_1_equals_greedy(goldens):
    for name in ("rand64", "rand1000", "peaked", "ties"):
        steps = goldens["logits"][name]
        greedy = replay_sample(sg.SampleCase("g", name, SamplerConfig(repetition_penalty=1.2), [1, 2], None), steps)
        for seed, temperature in ((0, 1.0), (9, 0.3), (4, 2.5)):
            config = SamplerConfig(temperature=temperature, top_k=1, repetition_penalty=1.2, seed=seed)
            assert replay_sample(sg.SampleCase("k", name, config, [1, 2], None), steps) == greedy


def test_sampling_follows_the_distribution():
    logits = [math.log(p) for p in (0.5, 0.3, 0.15, 0.05)]
    sampler, counts = Sampler(SamplerConfig(temperature=1.0, seed=3)), [0] * 4
    for _ in range(20000):
        counts[sampler.sample(logits, [])] += 1
    assert [round(c / 20000, 2) for c in counts] == pytest.approx([0.5, 0.3, 0.15, 0.05], abs=0.015)
    top_p = Sampler(SamplerConfig(temperature=1.0, top_p=0.75, seed=3))
    assert {top_p.sample(logits, []) for _ in range(2000)} == {0, 1}  # 0.5 + 0.3 >= 0.75


def test_repetition_penalty_divides_positive_and_multiplies_negative():
    logits = [2.0, -1.0, 1.9, -1.1]
    assert sample(logits, [], SamplerConfig(), SplitMix64(0)) == 0
    assert sample(logits, [0], SamplerConfig(repetition_penalty=1.1), SplitMix64(0)) == 2  # 2/1.1 < 1.9
    assert sample([-1.0, -1.05], [0, 0, 0], SamplerConfig(repetition_penalty=1.1), SplitMix64(0)) == 1  # once, not 3x


def test_invalid_settings_and_logits_are_errors():
    for bad in (dict(temperature=-1.0), dict(temperature=math.nan), dict(top_k=-1), dict(top_p=0.0),
                dict(top_p=1.5), dict(repetition_penalty=0.0)):
        with pytest.raises(SamplingError):
            SamplerConfig(**bad)
    with pytest.raises(SamplingError):
        sample([math.nan, -math.inf], [], SamplerConfig(), SplitMix64(0))
    with pytest.raises(SamplingError):
        StopCriteria(stop_strings=[""])
    with pytest.raises(SamplingError):
        StopTracker(StopCriteria(), prompt_tokens=9, context_length=8)  # never truncated


def test_a_stop_string_is_never_streamed_in_part(goldens):
    for case in goldens["stops"]:
        reason, chunks, _ = replay_stop(case)
        shown = "".join(chunks)
        text = "".join(delta for token, delta in case.events if token not in case.criteria.stop_token_ids)
        assert text.startswith(shown), case.name
        for stop in case.criteria.stop_strings:
            assert stop not in shown, case.name
        if reason in (STOP_TOKEN, MAX_NEW_TOKENS, CONTEXT_FULL):  # everything accepted is shown
            accepted = case.events[: len(chunks)]
            assert shown == "".join(d for t, d in accepted if t not in case.criteria.stop_token_ids), case.name
    reasons = {replay_stop(c)[0] for c in goldens["stops"]}
    assert {STOP_TOKEN, STOP_STRING, MAX_NEW_TOKENS, CONTEXT_FULL, None} <= reasons


def test_context_full_counts_cache_slots():
    tracker = StopTracker(StopCriteria(max_new_tokens=100), prompt_tokens=6, context_length=8)
    steps = [tracker.accept(i, "x") for i in range(3)]
    assert [s.stop for s in steps] == [None, None, CONTEXT_FULL]  # tokens 1 and 2 are decoded at slots 6 and 7
    with pytest.raises(SamplingError):
        tracker.accept(4, "y")


# -- Kotlin ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kotlin_results(goldens, tmp_path_factory):
    from mobilekit.errors import ToolMissingError
    from mobilekit.sdk.android.packager import KOTLINC_JVM_FLAGS, JUNIT4_JARS, Toolchain, parse_junit_reports
    from mobilekit.toolchains.process import ProcessFailed, run

    try:
        toolchain = Toolchain.find(tests=True)
    except ToolMissingError as e:
        toolchain_missing(f"Android toolchain missing: {e.message}")
    root = tmp_path_factory.mktemp("llm-kotlin")
    sources, resources = root / "src", root / "resources"
    sources.mkdir()
    resources.mkdir()
    for name in src.SAMPLING_KOTLIN:
        (sources / name).write_text(src.kotlin_source(src.KOTLIN_DIR / name, KOTLIN_PACKAGE))
    for name in src.SAMPLING_KOTLIN_TESTS:
        (sources / name).write_text(src.kotlin_source(src.KOTLIN_TEST_DIR / name, KOTLIN_PACKAGE))
    objects = {}
    for name, shape in goldens["shapes"].items():
        objects[name] = "GoldenShape" + "".join(part.title() for part in name.split("_"))
        (sources / f"{objects[name]}.kt").write_text(kotlin_shape_object(shape, KOTLIN_PACKAGE, objects[name]))
    (sources / "GoldenChatShapes.kt").write_text(src.kotlin_golden_shapes(KOTLIN_PACKAGE, objects))
    (resources / GOLDEN_FILE).write_text(goldens["text"], encoding="utf-8")
    classes = root / "classes"
    # One kotlinc run, library and tests together, against API 23 (no JDK on the classpath).
    run([toolchain.kotlinc, *KOTLINC_JVM_FLAGS, "-no-jdk", "-no-reflect", "-Werror", "-jvm-target", "1.8",
         "-language-version", "2.0", "-api-version", "2.0", "-Xsuppress-version-warnings",
         "-classpath", ":".join(map(str, [toolchain.android_jar, *JUNIT4_JARS])), "-d", classes, sources], timeout=900)
    classpath = [classes, resources, toolchain.stdlib, *JUNIT4_JARS]
    try:
        output = run([toolchain.java, "-XX:TieredStopAtLevel=1", "-jar", toolchain.junit_console, "--disable-banner",
                      "--details=none", "--class-path", ":".join(map(str, classpath)), "--select-package", KOTLIN_PACKAGE,
                      "--reports-dir", root / "reports"], timeout=300)
    except ProcessFailed as e:
        output = e.output
    return parse_junit_reports(root / "reports"), output


@pytest.mark.slow
def test_kotlin_matches_python_on_every_golden(kotlin_results, goldens):
    result, output = kotlin_results
    assert result.failed == 0 and result.run >= 6, result.failures
    counts = {kind: (int(ok), int(total)) for lang, kind, ok, total in GOLDEN_LINE.findall(output) if lang == "kotlin"}
    print("kotlin goldens:", counts)
    assert counts["sample"] == (len(goldens["samples"]),) * 2
    assert counts["chat"] == (len(goldens["chats"]),) * 2
    assert counts["stop"] == (len(goldens["stops"]),) * 2
    assert counts["exp"][0] == counts["exp"][1] > 300 and counts["rng"][0] == counts["rng"][1] == 12


# -- Swift -----------------------------------------------------------------------------------------

SWIFT_MODULE = "MobilekitLLM"
PACKAGE_SWIFT = """// swift-tools-version:5.9
import PackageDescription

let package = Package(
    name: "MobilekitLLM",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [.library(name: "MobilekitLLM", targets: ["MobilekitLLM"])],
    targets: [
        .target(name: "MobilekitLLM"),
        .testTarget(name: "MobilekitLLMTests", dependencies: ["MobilekitLLM"], resources: [.copy("Goldens")]),
    ]
)
"""
SWIFT_FORMAT = '{"version": 1, "indentation": {"spaces": 4}, "lineLength": 120, "maximumBlankLines": 1, ' \
               '"respectsExistingLineBreaks": true, "lineBreakBeforeEachArgument": false}\n'


@pytest.fixture(scope="session")
def swift_output(goldens, tmp_path_factory):
    from mobilekit.sdk.ios.packager import SWIFT_FLAGS, swift_run_script, sync_tree
    from mobilekit.toolchains.process import ProcessFailed, run
    from mobilekit.toolchains.tools import mobilekit_home, tool

    if not tool("swift (trixie chroot)").status().found:
        toolchain_missing("the Swift chroot is not installed (bash setup/install.sh swift)")
    package = tmp_path_factory.mktemp("llm-swift") / SWIFT_MODULE
    sources, tests = package / "Sources" / SWIFT_MODULE, package / "Tests" / f"{SWIFT_MODULE}Tests"
    (tests / "Goldens").mkdir(parents=True)
    sources.mkdir(parents=True)
    (package / "Package.swift").write_text(PACKAGE_SWIFT)
    (package / ".swift-format").write_text(SWIFT_FORMAT)
    for name in src.SAMPLING_SWIFT:
        shutil.copyfile(src.SWIFT_DIR / name, sources / name)
    for name in src.SAMPLING_SWIFT_TESTS:
        (tests / name).write_text(src.swift_test_source(src.SWIFT_TEST_DIR / name, SWIFT_MODULE))
    types = {}
    for name, shape in goldens["shapes"].items():
        types[name] = "GoldenShape" + "".join(part.title() for part in name.split("_"))
        (sources / f"{types[name]}.swift").write_text(swift_shape_enum(shape, types[name]))
    (tests / "GoldenChatShapes.swift").write_text(src.swift_golden_shapes(SWIFT_MODULE, types))
    (tests / "Goldens" / GOLDEN_FILE).write_text(goldens["text"], encoding="utf-8")
    # A work folder kept between sessions: SwiftPM rebuilds only what changed.
    work = mobilekit_home() / "swift" / "work" / "mobilekit-llm-sampling"
    work.mkdir(parents=True, exist_ok=True)
    sync_tree(package, work)
    script = "swift test " + " ".join(SWIFT_FLAGS) + " && swift-format lint --strict -r Sources/MobilekitLLM/Sampler.swift " \
             "Sources/MobilekitLLM/ChatPrompt.swift Tests && echo MOBILEKIT-LINT-CLEAN"
    try:
        return run([str(swift_run_script()), str(work), "sh", "-c", script], timeout=1800)
    except ProcessFailed as e:
        return e.output


@pytest.mark.slow
def test_swift_matches_python_on_every_golden(swift_output, goldens):
    executed = re.findall(r"Executed (\d+) tests?, with (\d+) failures?", swift_output)
    assert executed and int(executed[-1][0]) >= 6 and executed[-1][1] == "0", swift_output[-4000:]
    counts = {kind: (int(ok), int(total)) for lang, kind, ok, total in GOLDEN_LINE.findall(swift_output) if lang == "swift"}
    print("swift goldens:", counts)
    assert counts["sample"] == (len(goldens["samples"]),) * 2
    assert counts["chat"] == (len(goldens["chats"]),) * 2
    assert counts["stop"] == (len(goldens["stops"]),) * 2
    assert counts["exp"][0] == counts["exp"][1] > 300 and counts["rng"][0] == counts["rng"][1] == 12
    assert "MOBILEKIT-LINT-CLEAN" in swift_output, swift_output[-3000:]

"""package (Android): compile the generated module, run its JUnit tests, assemble .aar + POM.

No Gradle and no Android SDK download (see shared/toolchains.md): kotlinc compiles the sources
against the real API-23 android.jar plus a compile-only declaration of the LiteRT Java API
(``litert_stub/``, Java sources kotlinc reads for their signatures and never compiles to class
files, so nothing of it can end up in the AAR); aapt2 validates the manifest and writes R.txt; the
archive is written deterministically (see ``aar.py``). Everything the packager needs to know about
the module comes from its ``mobilekit-sdk.json``.

The generated JUnit tests (tokenizer and post-processing goldens, constants, assets) run on the
host JVM. The wrapper class itself needs an Android Context and the LiteRT native runtime, so it
is compiled and type-checked here but never run.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from mobilekit.errors import SdkBuildError
from mobilekit.sdk.android.aar import AAR_METADATA, AAR_METADATA_PATH, aar_problems, tree_entries, write_deterministic_zip
from mobilekit.sdk.result import PackageResult
from mobilekit.toolchains.process import ProcessFailed, run, which
from mobilekit.toolchains.tools import FRAMEWORK_RES, JUNIT4_JARS

LITERT_STUB_DIR = Path(__file__).resolve().parent / "litert_stub"
# The upstream artifact whose Java API litert_stub/ declares; tests check that the POM's LiteRT
# dependency is this very version.
LITERT_STUB_MIRRORS = "com.google.ai.edge.litert:litert:1.4.1"
# kotlinc runs are short and startup-bound: the C1-only JIT halves their CPU time (measured 16 s
# -> 9 s user for a generated module) and leaves the class files byte-identical.
KOTLINC_JVM_FLAGS = ("-J-XX:TieredStopAtLevel=1",)
KOTLINC_TIMEOUT_S = 900
JUNIT_TIMEOUT_S = 300


@dataclass(frozen=True)
class Toolchain:
    """Paths of everything the Gradle-free build runs or puts on a classpath."""

    kotlinc: Path
    kotlin_lib: Path
    android_jar: Path
    aapt2: Path
    java: Path
    junit_console: Path | None = None

    @property
    def stdlib(self) -> Path:
        return self.kotlin_lib / "kotlin-stdlib.jar"

    @property
    def coroutines(self) -> Path:
        return self.kotlin_lib / "kotlinx-coroutines-core-jvm.jar"

    @classmethod
    def find(cls, *, tests: bool) -> "Toolchain":
        from mobilekit.toolchains.tools import ANDROID_JAR_TOOL, android_jar_path, kotlin_lib_path, kotlinc_path, tool

        names = ["java", "kotlinc", "kotlin-stdlib", "kotlinx-coroutines", ANDROID_JAR_TOOL, "aapt2", "framework-res.apk"]
        names += ["junit", "junit4"] if tests else []
        statuses = {name: tool(name).verify() for name in names}
        kotlinc, lib = kotlinc_path(), kotlin_lib_path()
        return cls(
            kotlinc=kotlinc,
            kotlin_lib=lib,
            android_jar=android_jar_path(),
            aapt2=Path(statuses["aapt2"].location),
            java=which("java") or Path("java"),
            junit_console=Path(statuses["junit"].location) if tests else None,
        )


@dataclass
class JunitResult:
    run: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (test, message + trace head)
    tests: dict[str, str] = field(default_factory=dict)  # class.method -> passed|failed|skipped


def package_android(module_dir: Path, out_dir: Path, *, run_tests: bool) -> PackageResult:
    """Compile (and test) the module in ``module_dir``; write the .aar and .pom into ``out_dir``."""
    module_dir, out_dir = Path(module_dir), Path(out_dir)
    module = read_module(module_dir)
    toolchain = Toolchain.find(tests=run_tests)
    paths, maven = module["paths"], module["maven"]
    metrics: dict[str, Any] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    created: list[Path] = []
    try:
        with tempfile.TemporaryDirectory(prefix="mobilekit-android-") as tmp:
            work = Path(tmp)
            classes = work / "classes"
            metrics["compile_s"] = compile_main(
                toolchain, [module_dir / paths["kotlin_main"]], classes,
                module_name=kotlin_module_name(module), kotlinc=module["kotlinc"])
            if run_tests:
                test_classes = work / "test-classes"
                metrics["compile_tests_s"] = compile_tests(
                    toolchain, [module_dir / paths["kotlin_test"]], classes, test_classes,
                    module_name=kotlin_module_name(module), kotlinc=module["kotlinc"])
                started = time.monotonic()
                resources = module_dir / paths["test_resources"] if "test_resources" in paths else None
                result = run_junit(toolchain, [classes], test_classes, package=module["package"],
                                   module_dir=module_dir, reports_dir=work / "junit", resources=resources)
                metrics["test_s"] = round(time.monotonic() - started, 2)
                metrics.update(tests_run=result.run, tests_passed=result.passed,
                               tests_failed=result.failed, tests_skipped=result.skipped)
                results_file = out_dir / "junit-results.json"
                results_file.write_text(json.dumps({"summary": {k: metrics[k] for k in ("tests_run", "tests_passed", "tests_failed", "tests_skipped")},
                                                    "tests": result.tests}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
                created.append(results_file)
                raise_for_failures(result, module_dir)
            manifest = render_aar_manifest(module)
            r_txt = link_resources(toolchain, manifest, module_dir / paths["res"], work / "aapt2")
            entries = aar_entries(module, module_dir, classes, manifest, r_txt)
            aar = out_dir / f"{maven['artifact_id']}-{maven['version']}.aar"
            pom = out_dir / f"{maven['artifact_id']}-{maven['version']}.pom"
            created += [aar, pom]
            write_deterministic_zip(aar, entries)
            pom.write_text(render_pom(module), encoding="utf-8", newline="\n")
        model_entry = f"assets/{paths['asset_dir']}/{module['assets']['model']}"
        problems = aar_problems(aar, model_entry=model_entry)
        if problems:
            raise SdkBuildError(f"the assembled {aar.name} is malformed: " + "; ".join(problems))
    except BaseException:
        for path in created:
            path.unlink(missing_ok=True)
        raise
    metrics.update(
        aar_bytes=aar.stat().st_size,
        aar_sha256=hashlib.sha256(aar.read_bytes()).hexdigest(),
        classes=sum(1 for n in entries_classes(entries) if n.endswith(".class")),
        model_bytes=len(entries[model_entry]),
        tests_ran=run_tests,
        built_with="kotlinc (no Gradle)",
    )
    files = {"aar": aar, "pom": pom}
    if run_tests:
        files["test_results"] = out_dir / "junit-results.json"
    return PackageResult(files=files, metrics=metrics)


# -- steps ------------------------------------------------------------------------------------------


def read_module(module_dir: Path) -> dict[str, Any]:
    from mobilekit.sdk.android.template import load_template

    path = Path(module_dir) / load_template().paths["provenance"]
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SdkBuildError(f"{module_dir} is not a module mobilekit generated ({path.name} unreadable: {e})",
                            hint="run `mobilekit generate` first") from e


def kotlin_module_name(module: dict[str, Any]) -> str:
    """Name of META-INF/<name>.kotlin_module: unique per library so apps can merge several."""
    return f"{module['maven']['group_id']}_{module['maven']['artifact_id']}"


def _kotlinc_flags(kotlinc: dict[str, str]) -> list[str]:
    return ["-jvm-target", kotlinc["jvm_target"], "-language-version", kotlinc["language_version"],
            "-api-version", kotlinc["api_version"], "-Xsuppress-version-warnings"]


def compile_main(toolchain: Toolchain, source_dirs: Sequence[Path], classes_dir: Path, *,
                 module_name: str, kotlinc: dict[str, str]) -> float:
    """kotlinc the library against android.jar (no JDK: API-23 java.* only) + coroutines + the LiteRT stub.

    Several modules can be compiled in one run when their packages differ (the tests do that).
    """
    classpath = [toolchain.android_jar, toolchain.coroutines]
    argv = [toolchain.kotlinc, *KOTLINC_JVM_FLAGS, "-no-jdk", "-no-reflect", *_kotlinc_flags(kotlinc),
            "-classpath", ":".join(map(str, classpath)), "-module-name", module_name,
            "-d", classes_dir, *source_dirs, LITERT_STUB_DIR]
    return _kotlinc(argv, "the generated Android library")


def compile_tests(toolchain: Toolchain, test_dirs: Sequence[Path], main_classes: Path, out_dir: Path, *,
                  module_name: str, kotlinc: dict[str, str]) -> float:
    """kotlinc the JUnit tests for the host JVM (friends of the library: they see `internal`)."""
    classpath = [main_classes, toolchain.coroutines, *JUNIT4_JARS]
    argv = [toolchain.kotlinc, *KOTLINC_JVM_FLAGS, "-no-reflect", *_kotlinc_flags(kotlinc), "-classpath", ":".join(map(str, classpath)),
            f"-Xfriend-paths={main_classes}", "-module-name", module_name, "-d", out_dir, *test_dirs]
    return _kotlinc(argv, "the generated JUnit tests")


def _kotlinc(argv: list, what: str) -> float:
    started = time.monotonic()
    try:
        run(argv, timeout=KOTLINC_TIMEOUT_S)
    except ProcessFailed as e:
        errors = [line for line in e.output.splitlines() if "error:" in line] or e.output.strip().splitlines()[-20:]
        raise SdkBuildError(f"kotlinc could not compile {what}:\n" + "\n".join(errors[:20]),
                            hint="this is a bug in mobilekit's Android template; the full output is in the log") from e
    return round(time.monotonic() - started, 2)


def run_junit(toolchain: Toolchain, classes: Sequence[Path], test_classes: Path, *, package: str,
              module_dir: Path, reports_dir: Path, resources: Path | None = None) -> JunitResult:
    """Runs the tests of ``package`` with the JUnit console launcher (vintage engine for JUnit 4)."""
    # Test resources (goldens) are on the classpath, as Gradle puts src/test/resources there.
    classpath = [*classes, test_classes, *([resources] if resources else []), toolchain.stdlib, toolchain.coroutines, *JUNIT4_JARS]
    argv = [toolchain.java, "-XX:TieredStopAtLevel=1", f"-Dmobilekit.moduleDir={Path(module_dir).resolve()}", "-jar", toolchain.junit_console,
            "--disable-banner", "--details=none", "--class-path", ":".join(map(str, classpath)),
            "--select-package", package, "--reports-dir", reports_dir]
    output = ""
    try:
        output = run(argv, cwd=module_dir, timeout=JUNIT_TIMEOUT_S)
    except ProcessFailed as e:
        output = e.output  # exit 1 when a test fails: the reports say which
        if e.returncode != 1:
            raise SdkBuildError(f"the JUnit launcher failed (exit {e.returncode}):\n{e.output[-3000:]}") from e
    result = parse_junit_reports(reports_dir)
    if result.run == 0:
        raise SdkBuildError(f"no generated JUnit test ran in package {package}:\n{output[-3000:]}")
    return result


def parse_junit_reports(reports_dir: Path) -> JunitResult:
    result = JunitResult()
    for report in sorted(Path(reports_dir).glob("TEST-*.xml")):
        for case in ET.parse(report).getroot().iter("testcase"):
            name = f"{case.get('classname')}.{case.get('name')}".removesuffix("()")
            problem = case.find("failure")
            if problem is None:
                problem = case.find("error")
            if case.find("skipped") is not None:
                result.skipped += 1
                result.tests[name] = "skipped"
            elif problem is not None:
                result.failed += 1
                detail = (problem.get("message") or "") + "\n" + "\n".join((problem.text or "").strip().splitlines()[:6])
                result.failures.append((name, detail.strip()))
                result.tests[name] = "failed"
            else:
                result.passed += 1
                result.tests[name] = "passed"
            result.run += 1
    return result


def raise_for_failures(result: JunitResult, module_dir: Path) -> None:
    if not result.failed:
        return
    shown = "\n".join(f"- {name}: {detail}" for name, detail in result.failures[:10])
    more = f"\n(and {result.failed - 10} more)" if result.failed > 10 else ""
    raise SdkBuildError(
        f"{result.failed} of {result.run} generated JUnit tests failed in {module_dir}:\n{shown}{more}",
        hint="the Kotlin side disagrees with the Python goldens; the sources and tests are in the module folder",
    )


def render_aar_manifest(module: dict[str, Any]) -> str:
    from mobilekit.sdk.android.generator import environment

    return environment().get_template("package/AndroidManifest.xml.j2").render(package=module["package"], min_sdk=module["min_sdk"])


def link_resources(toolchain: Toolchain, manifest: str, res_dir: Path, work: Path) -> bytes:
    """aapt2 compile (when the module has resources) + link --static-lib: validates the manifest, writes R.txt."""
    work.mkdir(parents=True, exist_ok=True)
    manifest_file = work / "AndroidManifest.xml"
    manifest_file.write_text(manifest, encoding="utf-8")
    argv = [toolchain.aapt2, "link", "--static-lib", "-I", FRAMEWORK_RES, "--manifest", manifest_file,
            "--output-text-symbols", work / "R.txt", "--non-final-ids", "-o", work / "res.apk"]
    try:
        if res_dir.is_dir() and any(p.is_file() for p in res_dir.rglob("*")):
            run([toolchain.aapt2, "compile", "--dir", res_dir, "-o", work / "res.zip"], timeout=120)
            argv.append(work / "res.zip")
        run(argv, timeout=120)
    except ProcessFailed as e:
        raise SdkBuildError(f"aapt2 rejected the library's manifest or resources:\n{e.output[-2000:]}") from e
    return (work / "R.txt").read_bytes()


def aar_entries(module: dict[str, Any], module_dir: Path, classes: Path, manifest: str, r_txt: bytes) -> dict[str, bytes]:
    import io

    paths = module["paths"]
    jar = io.BytesIO()
    _write_zip_to(jar, tree_entries(classes))
    entries = {
        "AndroidManifest.xml": manifest.encode("utf-8"),
        "classes.jar": jar.getvalue(),
        "R.txt": r_txt,
        "proguard.txt": (module_dir / paths["consumer_rules"]).read_bytes(),
        AAR_METADATA_PATH: AAR_METADATA.encode("ascii"),
    }
    entries.update(tree_entries(module_dir / paths["res"], "res/"))
    entries.update(tree_entries(module_dir / paths["assets_root"], "assets/"))
    return entries


def entries_classes(entries: dict[str, bytes]) -> list[str]:
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(entries["classes.jar"])) as jar:
        return jar.namelist()


def _write_zip_to(buffer, entries: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "classes.jar"
        write_deterministic_zip(path, entries)
        buffer.write(path.read_bytes())


def _runtime(module: dict[str, Any]) -> str:
    return "a static model in plain Kotlin" if module["model"].get("kind") == "static" else "TensorFlow Lite"


def render_pom(module: dict[str, Any]) -> str:
    from mobilekit.sdk.android.generator import environment

    maven = module["maven"]
    return environment().get_template("package/pom.xml.j2").render(
        group_id=maven["group_id"], artifact_id=maven["artifact_id"], version=maven["version"],
        project_name=module["project"]["name"],
        description=f"{module['project']['name']} for Android ({module['task']}, {_runtime(module)}), generated by mobilekit",
        dependencies=list(module["dependencies"].values()),
        mobilekit_version=module["generator"]["version"], template_version=module["template"]["version"],
    )


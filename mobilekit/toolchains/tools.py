"""Every external tool a build may need: where it is, which version, how to install it.

``verify()`` raises ``ToolMissingError`` with the exact command that fixes the problem, so a
stage that needs kotlinc or the Swift chroot fails with an instruction instead of a traceback.
Versions are read from files where possible (package metadata, dpkg status), which keeps
`mobilekit doctor` fast: starting a JVM or a chroot just to print a version takes seconds.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

from mobilekit.errors import ToolMissingError
from mobilekit.toolchains.process import ProcessFailed, run, which
from mobilekit.toolchains.versions import checkout_root, pin, python_pins


def mobilekit_home() -> Path:
    return Path(os.environ.get("MOBILEKIT_HOME", Path.home() / ".cache" / "mobilekit"))


def setup_command(component: str) -> str:
    """The install command for a component: the checkout's script, or `mobilekit setup` for a wheel."""
    root = checkout_root()
    return f"bash {root / 'setup' / 'install.sh'} {component}" if root else f"mobilekit setup {component}"


@dataclass(frozen=True)
class ToolStatus:
    name: str
    purpose: str
    found: bool
    version: str | None
    location: str | None
    install: str
    problem: str | None = None
    optional: bool = False

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Tool:
    name: str
    purpose: str
    component: str  # setup component that installs it
    probe: Callable[[], tuple[str | None, str | None]]  # -> (location, version); location None = absent
    minimum: str | None = None
    optional: bool = False
    install_override: str | None = None

    @property
    def install(self) -> str:
        return self.install_override or setup_command(self.component)

    def status(self) -> ToolStatus:
        try:
            location, version = self.probe()
        except (OSError, ProcessFailed, ValueError) as e:
            location, version = None, None
            problem = str(e).splitlines()[0]
        else:
            problem = None if location else "not found"
        if location and self.minimum and version and _version_tuple(version) < _version_tuple(self.minimum):
            problem = f"version {version} is older than the required {self.minimum}"
        return ToolStatus(self.name, self.purpose, location is not None and problem is None, version, location, self.install, problem, self.optional)

    def verify(self) -> ToolStatus:
        status = self.status()
        if not status.found:
            raise ToolMissingError(f"{self.name} ({self.purpose}): {status.problem}", hint=f"install it with: {self.install}")
        return status


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text)[:3])


# -- probes ------------------------------------------------------------------------------------


def _python_package(dist: str, expected: str | None = None):
    def probe():
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None, None
        if expected and version != expected:
            raise ValueError(f"{dist} {version} is installed; mobilekit is tested with {expected}")
        return f"python package {dist}", version

    return probe


def _executable(name: str, version_args: list[str], pattern: str = r"(\d+\.\d+(?:\.\d+)?)"):
    def probe():
        path = which(name)
        if path is None:
            return None, None
        output = run([path, *version_args], timeout=30)
        match = re.search(pattern, output)
        return str(path), match.group(1) if match else None

    return probe


def _file(path_fn: Callable[[], Path], version_fn: Callable[[Path], str | None] = lambda p: None):
    def probe():
        path = path_fn()
        if not path.exists():
            return None, None
        return str(path), version_fn(path)

    return probe


def kotlinc_path() -> Path:
    return mobilekit_home() / "kotlin" / "node_modules" / "kotlin-compiler" / "bin" / "kotlinc"


def _kotlin_version(path: Path) -> str | None:
    package_json = path.parents[1] / "package.json"
    return json.loads(package_json.read_text())["version"] if package_json.exists() else None


def ktlint_path() -> Path:
    return mobilekit_home() / "ktlint" / "node_modules" / "@naturalcycles" / "ktlint" / "resources" / "ktlint"


def android_jar_path() -> Path:
    return mobilekit_home() / "android" / f"android-{pin('ANDROID_API')}.jar"


def kotlin_lib_path() -> Path:
    """kotlinc's own lib folder: the Kotlin stdlib and kotlinx-coroutines jars the SDK links against."""
    return kotlinc_path().parents[1] / "lib"


FRAMEWORK_RES = Path("/usr/share/android-framework-res/framework-res.apk")
JUNIT4_JARS = (Path("/usr/share/java/junit4.jar"), Path("/usr/share/java/hamcrest-core.jar"))


def swift_chroot_path() -> Path:
    return mobilekit_home() / "swift" / "chroot"


def _dpkg_version_in(root: Path, package: str) -> str | None:
    status = root / "var" / "lib" / "dpkg" / "status"
    if not status.exists():
        return None
    block = re.search(rf"^Package: {re.escape(package)}\n(?:.+\n)*?Version: (\S+)", status.read_text(errors="replace"), re.M)
    return block.group(1) if block else None


def arm64_sysroot_path() -> Path:
    return mobilekit_home() / "arm64" / "sysroot"


def _sysroot_litert(path: Path) -> str | None:
    for dist_info in (path / "opt" / "site").glob("ai_edge_litert-*.dist-info"):
        return dist_info.name[len("ai_edge_litert-"):].removesuffix(".dist-info")
    return None


def _swift_probe():
    root = swift_chroot_path()
    # /usr/bin/swift is an absolute symlink, valid only inside the chroot: test the link itself.
    if not (root / "usr" / "bin" / "swift").is_symlink():
        return None, None
    return str(root), _dpkg_version_in(root, "swiftlang")


def _pinned_package(dist: str, purpose: str, pinned: str | None = None) -> "Tool":
    return Tool(dist, purpose, "python", _python_package(dist, pinned or python_pins().get(dist)))


TOOLS: tuple[Tool, ...] = (
    _pinned_package("torch", "load and run the original model", pin("TORCH_BUILD")),
    _pinned_package("transformers", "read Hugging Face model folders"),
    _pinned_package("onnx", "the exported graph"),
    _pinned_package("onnxruntime", "check the ONNX export"),
    _pinned_package("onnx2tf", "ONNX -> TensorFlow Lite"),
    _pinned_package("tensorflow", "TensorFlow Lite conversion and quantization"),
    _pinned_package("ai-edge-litert", "run TFLite models on the host"),
    _pinned_package("coremltools", "Core ML conversion"),
    Tool("litert-torch", 'torch -> TensorFlow Lite directly (convert.tflite_route = "litert-torch"), own environment', "litert-torch",
         _file(lambda: mobilekit_home() / "venvs" / "litert-torch" / ".complete",
               lambda p: next((d.name[len("litert_torch-"):-len(".dist-info")] for d in p.parent.glob("lib/python*/site-packages/litert_torch-*.dist-info")), None)),
         optional=True),
    Tool("java", "run kotlinc and the generated JUnit tests", "kotlin", _executable("java", ["-version"], r'version "([\d.]+)'), minimum=pin("JAVA_MINIMUM"),
         install_override="apt-get install -y openjdk-17-jdk-headless"),
    Tool("kotlinc", "compile the Android library", "kotlin", _file(kotlinc_path, _kotlin_version), minimum=pin("KOTLIN_VERSION")),
    Tool("kotlin-stdlib", "the Kotlin runtime the library links against", "kotlin", _file(lambda: kotlin_lib_path() / "kotlin-stdlib.jar")),
    Tool("kotlinx-coroutines", "Flow and cancellation in the language-model SDK", "kotlin",
         _file(lambda: kotlin_lib_path() / "kotlinx-coroutines-core-jvm.jar")),
    Tool("ktlint", "lint the SDK's real Kotlin sources (tests)", "kotlin",
         _file(ktlint_path, lambda p: pin("KTLINT_PACKAGE").rpartition("@")[2]), optional=True),
    Tool(f"android.jar (API {pin('ANDROID_API')})", "compile against the Android framework", "android", _file(android_jar_path)),
    Tool("framework-res.apk", "link the library's resources (aapt2 -I)", "android", _file(lambda: FRAMEWORK_RES)),
    Tool("aapt2", "compile Android resources (R.txt)", "android", _executable("aapt2", ["version"])),
    Tool("junit", "run the generated Kotlin tests", "android", _file(lambda: Path("/usr/share/java/junit-platform-console-standalone.jar"))),
    Tool("junit4", "the generated Kotlin tests' API (JUnit 4 + Hamcrest)", "android", _file(lambda: _all_present(JUNIT4_JARS))),
    Tool("swift (trixie chroot)", "build and test the Swift package", "swift", _swift_probe),
    Tool("qemu-aarch64", "ARM64 emulator benchmarks", "arm64", _executable("qemu-aarch64", ["--version"])),
    Tool("arm64 sysroot + LiteRT", "the aarch64 runtime the emulator runs", "arm64", _file(arm64_sysroot_path, _sysroot_litert)),
    Tool("chromium", "render the HTML report headless (tests)", "chromium", _executable("chromium", ["--version"]), optional=True),
    Tool("adb", "benchmark on an attached Android device", "android", _executable("adb", ["version"]), optional=True,
         install_override="apt-get install -y adb  (then attach a device with USB debugging on)"),
)


def _all_present(paths: tuple[Path, ...]) -> Path:
    """The first of ``paths`` when every one exists; otherwise the first missing one (absent)."""
    return next((p for p in paths if not p.exists()), paths[0])


ANDROID_JAR_TOOL = f"android.jar (API {pin('ANDROID_API')})"


def tool(name: str) -> Tool:
    for candidate in TOOLS:
        if candidate.name == name:
            return candidate
    raise KeyError(name)

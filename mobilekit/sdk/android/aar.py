"""Deterministic .jar/.aar writing, and a reader that checks an .aar's layout.

Same inputs, same bytes: entries are sorted, every timestamp is 1980-02-01 00:00 (what the
Android Gradle plugin uses for reproducible archives), permissions and the "made by" system are
fixed, and the compression level is pinned. ``.tflite`` entries are STORED (uncompressed) so the
app can memory-map the model straight out of the APK.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Iterable, Mapping

FIXED_DATE = (1980, 2, 1, 0, 0, 0)
STORED_SUFFIXES = (".tflite", ".bin")  # memory-mapped assets: the model, a static model
AAR_METADATA_PATH = "META-INF/com/android/build/gradle/aar-metadata.properties"
AAR_METADATA = (
    "aarFormatVersion=1.0\n"
    "aarMetadataVersion=1.0\n"
    "minCompileSdk=1\n"
    "minCompileSdkExtension=0\n"
    "minAndroidGradlePluginVersion=1.0.0\n"
    "coreLibraryDesugaringEnabled=false\n"
)
REQUIRED_AAR_ENTRIES = ("AndroidManifest.xml", "classes.jar", "R.txt", AAR_METADATA_PATH)


def write_deterministic_zip(path: Path, entries: Mapping[str, bytes]) -> None:
    """Writes ``entries`` (archive name -> bytes) as a reproducible zip at ``path``."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        for name in sorted(entries):
            if name.startswith("/") or ".." in name.split("/") or "\\" in name:
                raise ValueError(f"unsafe archive entry name {name!r}")
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
            info.create_system = 0
            info.external_attr = 0o644 << 16
            if name.endswith(STORED_SUFFIXES):
                info.compress_type = zipfile.ZIP_STORED
                archive.writestr(info, entries[name])
            else:
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, entries[name], compresslevel=9)
    tmp.replace(path)


def tree_entries(root: Path, prefix: str = "", *, exclude: Iterable[str] = ()) -> dict[str, bytes]:
    """Every file under ``root`` as {prefix + relative posix path: bytes}."""
    root = Path(root)
    excluded = tuple(exclude)
    out = {}
    if not root.is_dir():
        return out
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = file.relative_to(root).as_posix()
        if relative.startswith(excluded):
            continue
        out[prefix + relative] = file.read_bytes()
    return out


def aar_problems(aar: Path, *, model_entry: str | None = None) -> list[str]:
    """What is wrong with an .aar's layout (empty list when nothing is)."""
    problems = []
    with zipfile.ZipFile(aar) as archive:
        names = archive.namelist()
        for required in REQUIRED_AAR_ENTRIES:
            if required not in names:
                problems.append(f"{required} is missing")
        if names != sorted(names):
            problems.append("entries are not sorted")
        for info in archive.infolist():
            if info.date_time != FIXED_DATE:
                problems.append(f"{info.filename} has timestamp {info.date_time}")
            if info.filename.endswith(STORED_SUFFIXES) and info.compress_type != zipfile.ZIP_STORED:
                problems.append(f"{info.filename} is compressed; it must be stored to be memory-mapped")
            if info.filename.startswith("org/tensorflow/") or info.filename.startswith("libs/"):
                problems.append(f"{info.filename} must not be packaged (the runtime comes from the POM dependency)")
        if model_entry and model_entry not in names:
            problems.append(f"{model_entry} is missing")
        if "classes.jar" in names:
            import io

            with zipfile.ZipFile(io.BytesIO(archive.read("classes.jar"))) as classes:
                tf = [n for n in classes.namelist() if n.startswith("org/tensorflow/")]
                if tf:
                    problems.append(f"classes.jar contains {len(tf)} org/tensorflow classes (the compile-only stub leaked)")
                if not any(n.endswith(".class") for n in classes.namelist()):
                    problems.append("classes.jar has no classes")
    return problems

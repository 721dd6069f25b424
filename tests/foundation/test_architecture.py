"""The package's shape, read statically (ast; nothing is imported):

(a) no import cycle among module-level imports;
(b) libraries never import a stage: only ``mobilekit/stages``, ``pipeline.py``, ``app.py`` and
    ``cli.py`` may import ``mobilekit.stages`` (at module level or inside a function);
(c) variant names live in the registry (``mobilekit/variants.py``) and nowhere else as literals.

Why (a) looks at module-level imports only: those run while a module is being initialized, so a
cycle among them can hand a module a half-initialized partner (ImportError or AttributeError
depending on who is imported first). Imports inside functions run after every module involved has
finished initializing, so they cannot fail that way; mobilekit uses them on purpose to keep heavy
libraries (torch, coremltools, TensorFlow) out of ``import mobilekit`` and for a stage to call its
text-generation helpers. They are still held to the layering rule (b).
"""

from __future__ import annotations

import ast
from pathlib import Path

from mobilekit import variants as registry
from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "mobilekit"
STAGE_IMPORTERS = ("mobilekit.stages", "mobilekit.pipeline", "mobilekit.app", "mobilekit.cli")
# Variant names that are not also ordinary words of the code (float32/float16/int8/int4 are dtype
# names too, e.g. coremltools' dtype="int4" or a compute precision): these must never be spelled
# out as a whole string literal outside the registry.
DISTINCT_NAMES = frozenset(v.name for v in registry.REGISTRY if v.name not in ("float32", "float16", "int8", "int4"))
ALL_NAMES = frozenset(v.name for v in registry.REGISTRY)
# Artifact keys are composed by mobilekit.variants (artifact_key / tflite_key / coreml_key).
KEY_PREFIXES = tuple(f"{fmt}-" for fmt in (registry.TFLITE, registry.COREML))
# Files allowed to spell variant names: the registry itself. (Docstrings, comments and prose inside
# messages are documentation and are not checked; templates are not Python and are not read.)
LITERAL_EXCEPTIONS = {"mobilekit/variants.py"}


def _modules() -> dict[str, Path]:
    mods = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _resolve_from(module: str, node: ast.ImportFrom) -> str | None:
    if node.level == 0:
        return node.module
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(module: str, node: ast.stmt) -> list[str]:
    """The mobilekit modules an import statement needs initialized: the named modules and their
    packages, except the importing module's own enclosing packages, which Python has already put in
    sys.modules (so ``from mobilekit.config import names`` inside ``config/loader.py`` needs only the
    ``names`` submodule) unless a name defined in that package's ``__init__`` is taken from it."""
    enclosing = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    if _is_package(module):
        enclosing.add(module)
    names, from_init = [], set()
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        source = _resolve_from(module, node)
        if source is None:
            return []
        submodules = [f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in MODULES]
        names = [source] + submodules
        if len(submodules) < len(node.names):
            from_init.add(source)  # a name the package (or module) itself defines
    found = set()
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            candidate = ".".join(parts[:i])
            if candidate in MODULES and (candidate not in enclosing or candidate in from_init):
                found.add(candidate)
    found.discard(module)
    return sorted(found)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _module_level_imports(tree: ast.Module):
    """Import statements executed when the module is initialized (not in functions or classes'
    methods, not under ``if TYPE_CHECKING``)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node):
                stack.extend(node.body + node.orelse)
        elif isinstance(node, (ast.Try, ast.With)):
            stack.extend(node.body + getattr(node, "orelse", []) + getattr(node, "finalbody", []))
            for handler in getattr(node, "handlers", []):
                stack.extend(handler.body)
        elif isinstance(node, ast.ClassDef):
            stack.extend(n for n in node.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))


def _trees() -> dict[str, ast.Module]:
    return {name: ast.parse(path.read_text(encoding="utf-8"), filename=str(path)) for name, path in MODULES.items()}


TREES = _trees()


def _graph() -> dict[str, set[str]]:
    return {name: {t for node in _module_level_imports(tree) for t in _targets(name, node)} for name, tree in TREES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_the_package():
    graph = _graph()
    assert len(graph) > 50
    assert "mobilekit.variants" in graph["mobilekit.config.schema"]
    assert "mobilekit.stages.base" in graph["mobilekit.stages.convert"]


def test_no_import_cycle_among_module_level_imports():
    cycles = _cycles(_graph())
    assert not cycles, f"module-level import cycles: {cycles}"


def test_cycle_finder_finds_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_libraries_never_import_a_stage():
    offenders = []
    for name, tree in TREES.items():
        if any(name == allowed or name.startswith(allowed + ".") for allowed in STAGE_IMPORTERS):
            continue
        for node in ast.walk(tree):  # functions included: the layering holds for lazy imports too
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imported = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [
                    _resolve_from(name, node) or ""] + [f"{_resolve_from(name, node)}.{a.name}" for a in node.names]
                if any(m == "mobilekit.stages" or m.startswith("mobilekit.stages.") for m in imported):
                    offenders.append(f"{MODULES[name].relative_to(REPO_ROOT)}:{node.lineno}")
    assert not offenders, f"library modules import a stage: {offenders}"


def test_the_registry_module_imports_the_standard_library_only():
    # The child-process drivers import it in other environments.
    tree = TREES["mobilekit.variants"]
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"__future__", "dataclasses", "pathlib"}, imported


def _docstring_nodes(tree: ast.Module) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _literal_offences(name: str, tree: ast.Module) -> list[str]:
    where = MODULES[name].relative_to(REPO_ROOT)
    docstrings = _docstring_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if node.value in DISTINCT_NAMES:
                found.append(f"{where}:{node.lineno}: {node.value!r}")
            elif node.value.startswith(KEY_PREFIXES):
                found.append(f"{where}:{node.lineno}: artifact key {node.value!r} spelled out")
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)) or isinstance(node, ast.Dict):
            # A collection of two or more variant names is a variant list: it belongs in the registry.
            items = node.keys if isinstance(node, ast.Dict) else node.elts
            names = [i.value for i in items if isinstance(i, ast.Constant) and i.value in ALL_NAMES]
            if len(names) >= 2:
                found.append(f"{where}:{node.lineno}: variant list {names}")
    return found


def test_variant_names_live_in_the_registry():
    offences = []
    for name, tree in TREES.items():
        if str(MODULES[name].relative_to(REPO_ROOT)) in LITERAL_EXCEPTIONS:
            continue
        offences += _literal_offences(name, tree)
    assert not offences, "variant names spelled outside mobilekit/variants.py:\n" + "\n".join(offences)


def test_the_literal_check_catches_the_old_spellings():
    old = ast.parse('COREML_FAMILIES = {"float32": "float32", "palettize4": "full-int8"}\n'
                    'def key(v):\n    return f"tflite-{v}"\n')
    TREES["mobilekit._probe"] = old
    MODULES["mobilekit._probe"] = PACKAGE / "_probe.py"
    try:
        offences = _literal_offences("mobilekit._probe", old)
    finally:
        del TREES["mobilekit._probe"], MODULES["mobilekit._probe"]
    assert any("'full-int8'" in o for o in offences) and any("'palettize4'" in o for o in offences)
    assert any("artifact key 'tflite-'" in o for o in offences)
    assert any("variant list" in o for o in offences)


def test_registry_lookups_agree():
    for variant in registry.REGISTRY:
        assert registry.by_key(variant.key) is variant is registry.get(variant.format, variant.name)
        assert variant.family in registry.FAMILIES and set(variant.kinds) <= set(registry.KINDS)
        assert set(variant.defaults) <= set(variant.kinds)
        if registry.ENCODER in variant.kinds:
            assert variant.parity_tolerance  # every encoder variant has a verify budget
        if registry.GENERATION in variant.kinds:
            assert variant.llm_verify_family
    assert len({v.key for v in registry.REGISTRY}) == len(registry.REGISTRY)
    assert registry.get("tflite", "dynamic-int8").file_name == "model_dynamic_int8.tflite"
    assert registry.get("coreml", "palettize4").file_name == "model_palettize4.mlpackage"
    assert registry.by_key("coreml-palettize4").parity_tolerance == "full-int8"
    assert registry.names("tflite", registry.kind_of("text-generation")) == ("float32", "float16", "dynamic-int8", "int4")
    assert registry.default_names("tflite", registry.ENCODER, calibration_text=False) == ("float32", "float16", "dynamic-int8")

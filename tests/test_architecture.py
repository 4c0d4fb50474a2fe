"""The package's architecture: imports run downward through the layers of docs/architecture.rst, with no circle.

The checker is a small walk over the syntax trees of the package (every ``import`` and ``from ... import``, also
those inside functions); it is tested on tiny fake packages first, so that a passing check on the real package
means something. The same walk lists the functions longer than the agreed 60 lines of code.
"""

import ast
import fnmatch
from pathlib import Path

import pytest

#: The source tree next to this file (also when the package is installed elsewhere).
REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIR = REPO / "sklearn_lowrank"
DOCS_PAGE = REPO / "docs" / "architecture.rst"

#: The layers of docs/architecture.rst, bottom first: a module may import its own layer and the layers below.
LAYERS = [
    ("core", ["_core", "_core.*"]),
    ("arrays", ["_version", "_utils", "_validation", "_ragged", "_counts", "_deviance", "metrics", "_populations",
                "_rank_rule"]),
    ("data", ["datasets", "datasets.*", "preprocessing", "preprocessing.*"]),
    ("estimators", ["_base", "_lowrank", "_mixture", "_lowrank_cv", "_scoring"]),
    ("analyses", ["meanfield", "inspection", "inspection.*", "model_selection"]),
    ("presentation", ["plotting", "plotting.*", "report", "_cli", "_cli_data", "_cli_parser", "__main__"]),
]

#: Imports that break the layering today, each with the issue that removes it. Remove an entry once fixed: the
#: test fails on an entry that no longer matches an import, so this list cannot silently grow stale.
KNOWN_VIOLATIONS: set = set()

#: Names that a module lists in ``__all__`` but imports from another module of the package (re-exports for old
#: import paths), each with the issue that removes it; none is left.
KNOWN_REEXPORTS: set = set()

#: Most lines of code below a function's docstring (figure builders in plotting may reach FIGURE_LIMIT).
LINE_LIMIT, FIGURE_LIMIT = 60, 100


# ---------------------------------------------------------------------------------------------------------------
# The checker
# ---------------------------------------------------------------------------------------------------------------


def _module_names(package_dir: Path) -> dict:
    """Dotted name below the package ("" for its __init__, "_core" for a subpackage) -> its file."""
    names = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The dotted name (below the package) that a relative ``from`` import names; None for other packages."""
    if node.level == 0:
        return None
    base = module.split(".") if module else []
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(package_dir: Path, package: str) -> dict:
    """Module -> the set of package modules it imports, from every import statement of its file.

    ``from . import name`` imports the submodule ``name`` when there is one, else the package's ``__init__``
    (named ""); absolute imports of ``package`` count as well.
    """
    names = _module_names(package_dir)
    graph = {}
    for module, path in names.items():
        is_package = path.name == "__init__.py"
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name[len(package) + 1:] if a.name != package else ""
                           for a in node.names if a.name == package or a.name.startswith(package + ".")]
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0 and node.module and (node.module + ".").startswith(package + "."):
                    target = node.module[len(package) + 1:]
                else:
                    target = _resolve(module, is_package, node)
                if target is not None:
                    subs = [f"{target}.{a.name}".lstrip(".") for a in node.names]
                    targets = [s for s in subs if s in names] or [target]
                    targets += [target] if len(targets) < len(subs) else []
            edges.update(t for t in targets if t != module)
        graph[module] = edges
    return graph


def find_cycle(graph: dict):
    """One import circle as a list of modules (first == last), or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def reexports(package_dir: Path, package: str) -> set:
    """(module, name) for each name in a module's ``__all__`` that it imports from the package (``__init__`` files,
    whose job is to re-export, and the ``__main__`` entry point excepted)."""
    found = set()
    for module, path in _module_names(package_dir).items():
        if path.name in ("__init__.py", "__main__.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    and (node.level > 0 or (node.module or "").split(".")[0] == package) for alias in node.names}
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
                found |= {(module, name) for name in ast.literal_eval(node.value) if name in imported}
    return found


def layer_of(module: str, layers) -> int:
    """Index of the layer whose patterns match ``module``; None for the package's __init__ ("")."""
    if module == "":
        return None
    for index, (_, patterns) in enumerate(layers):
        if any(fnmatch.fnmatchcase(module, pattern) for pattern in patterns):
            return index
    raise AssertionError(f"module {module!r} is in no layer: add it to LAYERS and to docs/architecture.rst.")


def upward_imports(graph: dict, layers) -> set:
    """(importer, imported) pairs that import a higher layer, or the package's __init__ from inside."""
    found = set()
    for module, targets in graph.items():
        if module == "":
            continue
        for target in targets:
            own, other = layer_of(module, layers), layer_of(target, layers)
            if other is None or other > own:
                found.add((module, target))
    return found


def _code_lines(node, lines) -> int:
    """Lines of code of a function below its docstring: not blank, not only a comment."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    if not body:
        return 0
    start, end = body[0].lineno, node.end_lineno
    start = min([start] + [d.lineno for d in getattr(body[0], "decorator_list", [])])
    text = lines[start - 1:end]
    return sum(1 for line in text if line.strip() and not line.strip().startswith("#"))


def _functions(tree, prefix=""):
    """(qualified name, node) of every function and method of a syntax tree, nested ones too."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + child.name, child
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield from _functions(child, prefix + child.name + ".")


def long_functions(package_dir: Path, limit: int = LINE_LIMIT) -> list:
    """(file, qualified name, lines of code) of every function with more than ``limit`` lines below its docstring."""
    found = []
    for path in sorted(package_dir.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for name, node in _functions(ast.parse(source)):
            n = _code_lines(node, lines)
            if n > limit:
                found.append((path.relative_to(package_dir).as_posix(), name, n))
    return found


# ---------------------------------------------------------------------------------------------------------------
# The checker on fake packages
# ---------------------------------------------------------------------------------------------------------------


def _fake_package(tmp_path, files: dict) -> Path:
    root = tmp_path / "fake"
    for name, text in {"__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


FAKE_LAYERS = [("low", ["low", "core", "core.*"]), ("high", ["high"])]


def test_checker_finds_a_circle_and_an_upward_import(tmp_path):
    root = _fake_package(tmp_path, {
        "core/__init__.py": "", "core/a.py": "from . import b\n", "core/b.py": "def f():\n    from .a import x\n",
        "low.py": "from fake.high import Estimator\n", "high.py": "from .low import f\nfrom .core.a import g\n",
    })
    graph = import_graph(root, "fake")
    assert graph["core.a"] == {"core.b"} and graph["core.b"] == {"core.a"}  # also inside a function
    assert graph["high"] == {"low", "core.a"} and graph["low"] == {"high"}
    assert find_cycle(graph) in (["core.a", "core.b", "core.a"], ["high", "low", "high"])
    assert upward_imports(graph, FAKE_LAYERS) == {("low", "high")}


def test_checker_sees_imports_of_the_package_init_and_passes_a_clean_package(tmp_path):
    root = _fake_package(tmp_path, {"core/__init__.py": "", "core/a.py": "from .. import __version__\n",
                                    "low.py": "from .core import a\nimport fake.core.a\n",
                                    "high.py": "from . import low\nfrom .low import thing\n"})
    graph = import_graph(root, "fake")
    assert graph["core.a"] == {""} and graph["low"] == {"core.a"} and graph["high"] == {"low"}
    assert upward_imports(graph, FAKE_LAYERS) == {("core.a", "")}
    (root / "core" / "a.py").write_text("import numpy\n")
    graph = import_graph(root, "fake")
    assert find_cycle(graph) is None and upward_imports(graph, FAKE_LAYERS) == set()
    with pytest.raises(AssertionError, match="'other' is in no layer"):
        layer_of("other", FAKE_LAYERS)


def test_reexport_checker(tmp_path):
    root = _fake_package(tmp_path, {"a.py": "X = 1\n", "b.py": "from .a import X\n__all__ = ['X', 'Y']\nY = X\n",
                                    "c.py": "from .a import X\n__all__ = ['f']\ndef f():\n    return X\n"})
    (root / "__init__.py").write_text("from .a import X\n__all__ = ['X']\n")
    assert reexports(root, "fake") == {("b", "X")}


def test_long_function_checker_counts_code_below_the_docstring(tmp_path):
    five = "".join(f"        x{i} = {i}  # code\n" for i in range(5))
    source = ('def short():\n    """Doc\n\n    more doc.\n    """\n    # a comment\n\n'
              + five.replace("        ", "    ") + "\n\nclass C:\n    def method(self):\n" + five
              + "        return 1\n")
    root = _fake_package(tmp_path, {"m.py": source})
    assert long_functions(root, limit=5) == [("m.py", "C.method", 6)]
    assert sorted(long_functions(root, limit=4)) == [("m.py", "C.method", 6), ("m.py", "short", 5)]


# ---------------------------------------------------------------------------------------------------------------
# The package
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph():
    return import_graph(PACKAGE_DIR, "sklearn_lowrank")


def test_no_import_circle(graph):
    assert find_cycle(graph) is None


def test_imports_run_downward_through_the_documented_layers(graph):
    upward = upward_imports(graph, LAYERS)
    assert upward - KNOWN_VIOLATIONS == set(), "upward imports (see docs/architecture.rst)"
    assert KNOWN_VIOLATIONS - upward == set(), "fixed: remove these from KNOWN_VIOLATIONS"


def test_no_reexports_outside_init_files():
    found = reexports(PACKAGE_DIR, "sklearn_lowrank")
    assert found - KNOWN_REEXPORTS == set()
    assert KNOWN_REEXPORTS - found == set(), "fixed: remove these from KNOWN_REEXPORTS"


def test_the_core_imports_no_scikit_learn():
    for path in (PACKAGE_DIR / "_core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "sklearn" for n in names), path.name


def test_the_docs_page_draws_every_layer():
    page = DOCS_PAGE.read_text(encoding="utf-8")
    for name, patterns in LAYERS:
        for pattern in patterns:
            assert f"``{pattern.removesuffix('.*')}" in page, (name, pattern)


def test_no_long_function():
    too_long = [(f, name, n) for f, name, n in long_functions(PACKAGE_DIR)
                if not (f.startswith("plotting/") and n <= FIGURE_LIMIT)]
    assert too_long == []


if __name__ == "__main__":
    for file, name, n in long_functions(PACKAGE_DIR):
        print(f"{file}:{name}: {n} lines of code")

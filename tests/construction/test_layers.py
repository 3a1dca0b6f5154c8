"""The layers hold: views, pages and commands leave queries and commits to the services, and
modules import each other without cycles, at the top unless a comment says why."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "construction"
THIN = sorted([*ROOT.glob("api/*.py"), ROOT / "pages.py", ROOT / "resolver.py",
               *ROOT.glob("cli*.py")])
# A query, a commit, or a hand on SQLite's write lock.
INFRASTRUCTURE = re.compile(
    r"db\.session\.(commit|execute|scalars?|get)\(|\bselect\(|mark_writing|write_lock")
# The health check probes the database itself.
ALLOWED = {("api/health.py", 'db.session.execute(text("SELECT 1"))')}


def test_views_pages_and_commands_leave_queries_and_commits_to_the_services():
    found = []
    for path in THIN:
        name = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if INFRASTRUCTURE.search(line) and (name, line.strip()) not in ALLOWED:
                found.append(f"{name}:{number}: {line.strip()}")
    assert len(THIN) > 20
    assert found == []


# --- imports ---------------------------------------------------------------------------------

PACKAGES = ("construction", "labels", "vision", "bim")
TOP = ROOT.parent


def _module_files() -> dict[str, Path]:
    files = {"app": TOP / "app.py"}
    for package in PACKAGES:
        for path in (TOP / package).rglob("*.py"):
            name = ".".join(path.relative_to(TOP).with_suffix("").parts)
            files[name.removesuffix(".__init__")] = path
    return files


def _imports(files: dict[str, Path]):
    """Yield (importer, imported module, line, inside a function, the line above) per import."""
    for name, path in files.items():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        tree = ast.parse(text)
        inner = {id(node) for function in ast.walk(tree)
                 if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
                 for node in ast.walk(function)}
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, *([base] if base else [])])
                targets = [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
            if above == "try:":  # the comment goes above the try
                above = lines[node.lineno - 3].strip()
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                yield name, target or None, node.lineno, id(node) in inner, above


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_even_through_imports_inside_functions():
    graph: dict[str, set[str]] = {}
    for importer, imported, *_ in _imports(_module_files()):
        if imported and imported != importer:
            graph.setdefault(importer, set()).add(imported)
    assert len(graph) > 80
    assert _cycles(graph) == []


def test_imports_inside_functions_say_why():
    # Only a heavy or optional dependency is imported where it is used, with a comment
    # above the import (or above the block of imports it is part of).
    unexplained = [f"{importer}:{line}" for importer, _, line, inside, above
                   in _imports(_module_files())
                   if inside and not above.startswith(("#", "from ", "import "))]
    assert unexplained == []


def test_cycles_are_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_libraries_import_no_app():
    # labels/, vision/ and bim/ take their settings as arguments (their environment: see
    # tests/labels/test_render.py): nothing of the app or of Flask.
    files = _module_files()
    libraries = [name for name in files if name.split(".")[0] in ("labels", "vision", "bim")]
    reaching = [f"{importer} imports {imported}" for importer, imported, *_ in _imports(files)
                if importer in libraries and imported
                and imported.split(".")[0] in ("construction", "app")]
    flask = [name for name in libraries if re.search(
        r"^\s*(from|import) flask", files[name].read_text(encoding="utf-8"), re.MULTILINE)]
    assert len(libraries) > 10
    assert reaching == [] and flask == []

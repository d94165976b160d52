"""The layers import one way, modules form no import cycle, and nothing keeps module state.

project (app, management commands)
  -> routes (HTTP)
    -> services (one package per domain)
      -> models, agent
        -> core (settings, errors, clock, database)
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "models", "agent", "services", "routes", "project")
# What each package may import of the others (itself always).
ALLOWED = {
    "core": set(),
    "models": {"core"},
    "agent": set(),
    "services": {"core", "models", "agent"},
    "routes": {"core", "models", "services"},
    "project": {"core", "models", "agent", "services", "routes"},
}
# Modules whose SQL strings are allowed: the models' named queries, backup/restore.
SQL_HOMES = ("models/", "project/backup.py")
_SQL_START = ("SELECT ", "UPDATE ", "INSERT INTO ", "DELETE FROM ")


def _modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            relative = path.relative_to(REPO).with_suffix("")
            parts = list(relative.parts)
            if parts[-1] == "__init__":
                parts.pop()
            yield ".".join(parts), path


MODULES = dict(_modules())


def _runtime_imports(path: Path) -> set[str]:
    """Modules imported when the module runs (imports under TYPE_CHECKING excluded)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name in MODULES}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_flow_down_the_layers(module: str) -> None:
    package = module.split(".")[0]
    for imported in _runtime_imports(MODULES[module]):
        target = imported.split(".")[0]
        assert target == package or target in ALLOWED[package], f"{module} imports {imported}"


def test_routes_do_not_query_the_orm() -> None:
    for module, path in MODULES.items():
        if module.startswith("routes"):
            text = path.read_text(encoding="utf-8")
            assert "tortoise" not in text, module


def test_no_import_cycles_between_modules() -> None:
    graph = {module: _runtime_imports(path) - {module} for module, path in MODULES.items()}
    # A package's __init__ re-exports its modules: an edge into the package is
    # an edge into the modules it imports, not a cycle through them.
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        if module in done:
            return
        assert module not in visiting, " -> ".join([*visiting, module])
        visiting.append(module)
        for imported in graph[module]:
            if not module.startswith(imported + "."):  # a module may import its own package
                visit(imported)
        visiting.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


def test_no_module_rebinds_its_globals() -> None:
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        rebinding = [node for node in ast.walk(tree) if isinstance(node, ast.Global)]
        assert not rebinding, f"{module} uses `global`"


def test_sql_is_written_only_in_models_and_backup() -> None:
    for module, path in MODULES.items():
        relative = str(path.relative_to(REPO))
        if relative.startswith(SQL_HOMES):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value.lstrip()
                assert not text.startswith(_SQL_START), f"SQL in {module}: {node.value[:40]!r}"

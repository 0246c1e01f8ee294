"""How the project's modules import each other, read from their source with ``ast``.

Every import counts, also one inside a function: a lazy import hides a cycle from Python
at start-up, not from the reader. Importing ``a.b.c`` runs ``a/__init__.py`` and
``a/b/__init__.py`` too, so those packages count as imported as well — except the
importer's own packages, which are already loading when it runs.
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("numina", "accounts", "conversations", "memory")

# The layers above the services: they call services, never the other way round. The
# tasks reach the services through conversations/followups.py instead. cache.py is not
# among them: it is infrastructure (keys, versions, the after-commit invalidation every
# write must raise, see services.next_change_seq); what is cached for which read is
# policy, and lives with the readers.
ABOVE_THE_SERVICES = ("tasks", "api", "views", "urls")

# Known cycles still to be broken; each must still exist in the source, so an allowance
# goes when its edge does (see the test below). None left.
ALLOWED_UNTIL_MERGED: set[tuple[str, str]] = set()


def project_modules() -> dict[str, Path]:
    """Dotted name -> source file, for every module of the project's packages."""
    modules = {}
    for package in PROJECT_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _ancestors(name: str) -> Iterator[str]:
    while "." in name:
        name = name.rpartition(".")[0]
        yield name


def _imported_names(*, module: str, path: Path) -> Iterator[str]:
    """Each dotted name an import statement anywhere in the module may load."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            yield source
            # ``from package import name`` loads package.name when it is a module.
            yield from (f"{source}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    """Each project module -> the project modules it imports."""
    modules = project_modules()

    def project_module(name: str) -> str | None:
        # ``a.b.function`` is module a.b; a third-party name resolves to nothing.
        for candidate in (name, *_ancestors(name)):
            if candidate in modules:
                return candidate
        return None

    graph = {}
    for module, path in modules.items():
        loading = {module, *_ancestors(module)}
        targets = set()
        for name in _imported_names(module=module, path=path):
            target = project_module(name)
            if target is None:
                continue
            targets |= {target, *(p for p in _ancestors(target) if p in modules)} - loading
        graph[module] = targets
    return graph


def test_project_modules_import_each_other_without_a_cycle():
    graph = import_graph()
    for importer, imported in ALLOWED_UNTIL_MERGED:
        graph[importer].discard(imported)

    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as cycle:
        pytest.fail("import cycle: " + " -> ".join(cycle.args[1]))


def test_each_allowed_edge_still_exists():
    graph = import_graph()

    gone = {edge for edge in ALLOWED_UNTIL_MERGED if edge[1] not in graph[edge[0]]}

    assert not gone, f"remove these from ALLOWED_UNTIL_MERGED: {sorted(gone)}"


def test_no_service_imports_the_tasks_the_api_or_the_views():
    graph = import_graph()

    def above(module: str) -> bool:
        return any(part in ABOVE_THE_SERVICES for part in module.split(".")[1:])

    reaching_up = {
        f"{service} imports {module}"
        for service, imported in graph.items()
        if service.startswith("conversations.services")
        for module in imported
        if above(module)
    }

    assert not reaching_up, sorted(reaching_up)


# What a legacy reader would need to touch the database (legacy/base.py: "Readers never
# touch the database"); the run loop that does is conversations/management/legacy_run.py.
DATABASE_DOORS = (
    "django.db",
    "django.contrib.auth",
    "conversations.services",
    "conversations.selectors",
)


def test_the_legacy_readers_reach_no_database():
    modules = project_modules()

    reaching = {
        f"{module} imports {name}"
        for module, path in modules.items()
        if module.startswith("conversations.legacy")
        for name in _imported_names(module=module, path=path)
        if any(name == door or name.startswith(door + ".") for door in DATABASE_DOORS)
    }

    assert not reaching, sorted(reaching)


def test_the_walk_sees_imports_inside_functions(tmp_path):
    # The lazy import the cycle test exists for: models.py's save() once imported the
    # services this way. A walk of top-level statements only would miss it.
    path = tmp_path / "models.py"
    path.write_text("def save():\n    from .services import revoke_all_tokens\n")

    names = set(_imported_names(module="accounts.models", path=path))

    assert {"accounts.services", "accounts.services.revoke_all_tokens"} <= names

"""The dependency rules of the README, checked on the import graph (read from the source).

- pages (``review_ui``) import api services and schemas, never api tables, queries or db;
- api domains import each other one way only (no cycles; routes sit on top and are left out);
- no module imports itself back through others;
- ``pipeline`` imports nothing of ours; ``models`` never imports ``datasets``.

A violation that is already known is listed below with why it is still there; a new one
fails, and so does a listed one that has gone (so the list only shrinks).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("api", "review_ui", "pipeline", "models", "datasets", "vigil", "benchmarks")

# Pages that still reach api tables or queries directly, module -> what it imports.
KNOWN_PAGE_VIOLATIONS: dict[str, set[str]] = {
    "review_ui.cdc.routes": {"api.organisations.tables"},
    "review_ui.clinicians.routes": {
        "api.batches.tables",
        "api.products.tables",
        "api.reviews.queries",
        "api.selftests.tables",
    },
    "review_ui.patients.routes": {
        "api.products.tables",
        "api.selftests.tables",
    },
}
# Import every table so that the metadata is complete (Alembic): they depend on all domains
# by design and nothing imports them back.
AGGREGATORS = {"api.db.tables", "api.migrations.env"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (function-level imports count too)."""
    found: set[str] = set()
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    """module -> the modules of ours it imports (names that are not modules are dropped)."""
    files = [p for top in OURS for p in (ROOT / top).rglob("*.py") if ".venv" not in p.parts]
    modules = {_module_name(p): p for p in files}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges[name] = {i for i in _imports(path) if i in modules and i != name}
    return edges


def _domain(module: str) -> str | None:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "api" and len(parts) > 2 else None


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(edges):
        if node not in index:
            visit(node)
    return found


def _page_violations(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """page module -> the api tables, queries or db modules it imports."""
    seen: dict[str, set[str]] = {}
    for module, targets in graph.items():
        if not module.startswith("review_ui"):
            continue
        reached = {
            ".".join(t.split(".")[:3])
            for t in targets
            if t.startswith("api.")
            and (t.split(".")[-1] in ("tables", "queries") or t.startswith("api.db"))
        }
        if reached:
            seen[module] = reached
    return seen


def test_pages_import_api_services_and_schemas_only(graph: dict[str, set[str]]) -> None:
    seen = _page_violations(graph)
    new = {m: s - KNOWN_PAGE_VIOLATIONS.get(m, set()) for m, s in seen.items()}
    assert {m: s for m, s in new.items() if s} == {}, "pages must go through api services"
    gone = {m: s - seen.get(m, set()) for m, s in KNOWN_PAGE_VIOLATIONS.items()}
    assert {m: s for m, s in gone.items() if s} == {}, "fixed: remove it from the known list"


def test_api_domains_import_each_other_one_way(graph: dict[str, set[str]]) -> None:
    domains: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph.items():
        source = _domain(module)
        if source is None or module.endswith(".routes") or module in AGGREGATORS:
            continue  # routes sit on top of every domain
        for target in targets:
            domain = _domain(target)
            if domain is not None and domain != source:
                domains[source].add(domain)
    assert _cycles(domains) == []


def test_no_module_imports_itself_back(graph: dict[str, set[str]]) -> None:
    ours = {m: {t for t in ts if not t.startswith(("tests",))} for m, ts in graph.items()}
    assert _cycles(ours) == []


def test_pipeline_imports_nothing_of_ours(graph: dict[str, set[str]]) -> None:
    bad = {
        m: sorted(t for t in ts if not t.startswith("pipeline"))
        for m, ts in graph.items()
        if m.startswith("pipeline")
    }
    assert {m: ts for m, ts in bad.items() if ts} == {}


def test_models_never_import_datasets(graph: dict[str, set[str]]) -> None:
    bad = {
        m
        for m, ts in graph.items()
        if m.startswith("models") and any(t.startswith("datasets") for t in ts)
    }
    assert bad == set()


def test_the_checker_sees_a_violation() -> None:
    """The rules would fail: a page importing a table, and a two-domain loop, are found."""
    assert "api.accounts.schemas" in _imports(ROOT / "review_ui" / "nav.py")
    page = {"review_ui.x": {"api.accounts.tables", "api.accounts.service", "api.db.session"}}
    assert _page_violations(page) == {"review_ui.x": {"api.accounts.tables", "api.db.session"}}
    assert _cycles({"api.a": {"api.b"}, "api.b": {"api.a"}}) == [["api.a", "api.b"]]

"""The package's import graph follows the data flow of docs/architecture.md: a module imports only
from its own folder and the folders above it in the layout table, and no two modules import each
other, however indirectly. Every `import` counts, at module level or inside a function: a lazy import
against the flow is still an arrow against it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import facegan

SRC = Path(facegan.__file__).parent
ARCHITECTURE = Path(__file__).parents[1] / "docs" / "architecture.md"
# The package root (facegan.load, facegan.export) delegates to interop; errors is everyone's.
ROOT_LEVEL = {"facegan": "interop", "facegan.errors": None, "facegan.__main__": "cli"}


def documented_order() -> list[str]:
    """The folders of the layout table, top to bottom."""
    text = ARCHITECTURE.read_text()
    table = text[text.index("## Layout"):text.index("## Conventions")]
    return re.findall(r"^\| `(\w+)/` \|", table, flags=re.M)


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, name: str) -> set[str]:
    """The facegan modules `path` imports (relative imports resolved)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "facegan"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base == "facegan":  # the package's API (load, export) or a constant such as __version__
                found |= {"facegan" if a.name in ("load", "export") else f"facegan.{a.name}" for a in node.names}
            elif base.split(".")[0] == "facegan":
                found.add(base)
                found |= {f"{base}.{a.name}" for a in node.names}  # `from pkg import module`
    return found


def graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in SRC.rglob("*.py")}
    return {name: {m for m in imports_of(path, name) if m in paths and m != name} for name, path in paths.items()}


def folder_of(module: str) -> str | None:
    if module in ROOT_LEVEL:
        return ROOT_LEVEL[module]
    return module.split(".")[1]


def test_the_layout_table_names_every_folder_of_the_package():
    folders = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert set(documented_order()) == folders


def test_every_import_follows_the_documented_data_flow():
    order = {folder: i for i, folder in enumerate(documented_order())}
    against = []
    for module, targets in graph().items():
        here = folder_of(module)
        for target in targets:
            there = folder_of(target)
            if here is None or there is None:
                continue
            if order[there] > order[here]:
                against.append(f"{module} -> {target} ({there}/ comes after {here}/)")
    assert not against, "imports against the data flow:\n" + "\n".join(sorted(against))


def test_no_module_imports_itself_through_others():
    g = graph()
    # Importing a package runs its __init__: an import of facegan.x.y also depends on facegan.x.
    edges = {m: {t for target in ts for t in (target, *parents(target)) if t in g and t != m} for m, ts in g.items()}
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1 and not is_ancestor_package(nxt, node):
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts))]


def is_ancestor_package(package: str, module: str) -> bool:
    """A package's __init__ that re-exports its own submodules is not a cycle of the flow."""
    return module.startswith(package + ".")

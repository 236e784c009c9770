"""The package's shape: no import cycles, no reaching into another module's private names,
light imports where nothing heavy is needed."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import SAMPLE_FILES, SAMPLES_AS_OF

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "dunning"
#: Libraries that making one letter never needs, or that only some commands need.
HEAVY = ("weasyprint", "pikepdf", "sqlalchemy", "dask", "distributed", "jinja2", "pydantic",
         "babel", "yaml", "starlette", "uvicorn", "fsspec")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    path = PACKAGE.parent / name.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import in ``path`` that
    targets the dunning package: at module level, in functions and under TYPE_CHECKING."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target == "dunning" or target.startswith("dunning."):
                names = [alias.name for alias in node.names]
                submodules = [f"{target}.{n}" for n in names if _is_module(f"{target}.{n}")]
                found += [(sub, [], node.lineno) for sub in submodules]
                rest = [n for n in names if not _is_module(f"{target}.{n}")]
                if rest or not submodules:
                    found.append((target, rest, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names
                      if alias.name.split(".")[0] == "dunning"]
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        graph[name] = {target for target, _, _ in _imports(path) if target != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph.get(node, ()):
            if succ not in graph:
                continue
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_in_the_package() -> None:
    """Counting every import: at run time, inside functions, and for typing only."""
    graph = _graph()
    assert "dunning.job" in graph
    assert "dunning.letter" in graph["dunning.job"]
    assert _cycles(graph) == []


def test_no_module_imports_a_private_name_of_another() -> None:
    offenders = [f"{path.relative_to(PACKAGE)}:{line}: {name} from {target}"
                 for path in sorted(PACKAGE.rglob("*.py"))
                 for target, names, line in _imports(path)
                 for name in names if name.startswith("_") and not name.startswith("__")]
    assert offenders == []


def test_no_module_writes_private_attributes_of_other_objects() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            targets = (node.targets if isinstance(node, ast.Assign) else
                       [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
            for target in targets:
                if (isinstance(target, ast.Attribute) and target.attr.startswith("_")
                        and not target.attr.startswith("__")
                        and not (isinstance(target.value, ast.Name)
                                 and target.value.id in ("self", "cls"))):
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: "
                                     f"{ast.unparse(target)}")
    assert offenders == []


def _loaded_after(code: str) -> list[str]:
    """The heavy libraries loaded in a fresh interpreter after running ``code``."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & "
             f"set({list(HEAVY)!r}))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    return list(json.loads(out.strip().splitlines()[-1]))


@pytest.mark.parametrize("module", ["dunning", "dunning.words", "dunning.errors"])
def test_importing_the_package_loads_no_heavy_library(module: str) -> None:
    assert _loaded_after(f"import {module}") == []


def test_the_lazy_names_resolve() -> None:
    import dunning

    for name in dunning.__all__:
        assert getattr(dunning, name) is not None, name
    with pytest.raises(AttributeError):
        dunning.no_such_name  # noqa: B018


def test_render_loads_only_what_one_letter_needs(tmp_path: Path) -> None:
    """``dunning render`` of one letter (and its line in the ledger): no cluster, no preview
    server, no object stores."""
    out = tmp_path / "letter.pdf"
    ledger = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    code = ("from dunning.cli import main\n"
            f"code = main(['render', '--input', {str(SAMPLE_FILES[0])!r}, '--id', 'MT-000004',"
            f" '--as-of', {SAMPLES_AS_OF.isoformat()!r}, '-o', {str(out)!r},"
            f" '--ledger', {ledger!r}])\n"
            "assert code == 0, code")
    loaded = _loaded_after(code)
    assert out.read_bytes().startswith(b"%PDF")
    assert {"weasyprint", "jinja2", "sqlalchemy"} <= set(loaded)  # a letter and its record
    assert set(loaded) & {"dask", "distributed", "starlette", "uvicorn", "fsspec"} == set()

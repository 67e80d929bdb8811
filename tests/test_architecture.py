"""The rules of docs/architecture.md, read off the source: which stage may import which, who reads the
environment, how large a module and how long a positional argument list may grow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "otel_supabase_exporter"
NAME = "otel_supabase_exporter"
SHARED = {"semconv", "settings", "errors", "redact", "histogram", "forks"}

# stage -> the other stages it may import (the flow: instrument -> sdk -> rows -> store -> judge -> show)
ALLOWED = {
    "instrument": SHARED,
    "integrations": {"instrument"} | SHARED,
    "rows": SHARED,
    "sdk": {"instrument", "rows", "store"} | SHARED,
    "store": {"rows"} | SHARED,
    "judge": {"store"} | SHARED,
    "show": {"judge", "store", "demo", "gateway"} | SHARED,
    "demo": {"instrument", "sdk", "rows", "store", "judge", "show"} | SHARED,
    "gateway": {"instrument", "rows", "store"} | SHARED,
    "settings": {"errors", "redact"},
    "errors": set(),
    "redact": set(),
    "semconv": set(),
    "histogram": set(),
    "__main__": {"show"},
}
# stage -> third-party packages it must not import at module level
FORBIDDEN = {
    "instrument": {"psycopg", "opentelemetry.sdk"},
    "integrations": {"psycopg"},
    "rows": {"psycopg", "opentelemetry"},
    "store": {"opentelemetry"},
    "judge": {"opentelemetry"},
    "gateway": {"psycopg"},
    "settings": {"psycopg", "opentelemetry"},
    "redact": {"psycopg", "opentelemetry"},
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<root>"


def _imports(module: str, path: Path, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1])
                if node.module:
                    found.add(f"{base}.{node.module}")
                else:
                    found.update(f"{base}.{a.name}" for a in node.names)
            else:
                found.add(node.module or "")
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _stage(m) != "<root>"))
def test_stages_import_only_what_the_flow_allows(module):
    stage = _stage(module)
    for target in _imports(module, MODULES[module]):
        if target.startswith(NAME + "."):
            other = _stage(target)
            assert other == stage or other in ALLOWED[stage], f"{module} imports {target}"
    for target in _imports(module, MODULES[module], top_level_only=True):
        for forbidden in FORBIDDEN.get(stage, ()):
            assert not (target == forbidden or target.startswith(forbidden + ".")), f"{module} imports {target}"


def _closure(start: str) -> set[str]:
    """Every package module that importing ``start`` executes (parent packages included), leaving out
    the root package, which re-exports everything."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        module = todo.pop()
        parts = module.split(".")
        for i in range(2, len(parts) + 1):
            name = ".".join(parts[:i])
            if name in MODULES and name not in seen:
                seen.add(name)
                todo.extend(t for t in _imports(name, MODULES[name], top_level_only=True)
                            if t.startswith(NAME + ".") or t in MODULES)
            elif name not in MODULES and ".".join(parts[:i - 1]) in MODULES:  # "from pkg import name"
                break
    return seen


def test_the_hot_path_never_loads_the_database_driver_or_the_sdk():
    reached = _closure(f"{NAME}.instrument")
    assert not {m for m in reached if _stage(m) in ("store", "sdk", "judge", "show")}, reached
    for module in reached:
        for target in _imports(module, MODULES[module], top_level_only=True):
            assert not target.startswith(("psycopg", "opentelemetry.sdk")), f"{module} imports {target}"


def test_only_settings_reads_the_environment():
    for module, path in MODULES.items():
        if module == f"{NAME}.settings":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv"):
                pytest.fail(f"{module}:{node.lineno} reads the environment; add a setting to settings.py")


def test_modules_stay_small():
    large = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 400}
    assert not large


def test_no_function_takes_more_than_four_positional_arguments():
    long = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                positional = [a.arg for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
                if len(positional) > 4:
                    long.append(f"{module}.{node.name}({', '.join(positional)})")
    assert not long


def test_every_package_says_what_is_public():
    for module, path in MODULES.items():
        if path.name == "__init__.py":
            assert ast.get_docstring(ast.parse(path.read_text())), f"{module} has no docstring"


def test_every_error_derives_from_one_base():
    import inspect

    from otel_supabase_exporter import errors

    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, Exception)]
    assert len(classes) >= 8 and all(issubclass(c, errors.Error) for c in classes)
    for module, path in MODULES.items():
        if module == f"{NAME}.errors":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
                assert not bases & {"Exception", "RuntimeError", "ValueError", "LookupError"}, \
                    f"{module}.{node.name}: errors live in errors.py"

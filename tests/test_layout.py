"""The import rules between packages (docs/architecture.md), read from the source with ast."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Edges that break a rule today, each to be removed when its module moves as
# docs/architecture.md describes. A new edge of the same kind fails the test.
KNOWN_EXCEPTIONS = {
    # The parent pre-imports the worker's modules so each forked run starts warm.
    ("scoot.supervise.preload", "worker.agent"),
    ("scoot.supervise.preload", "worker.main"),
    ("scoot.supervise.preload", "worker.sandbox"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every absolute module an import statement of the file names (at any depth)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def all_imports() -> list[tuple[str, str]]:
    edges = []
    for top in ("scoot", "worker"):
        for path in sorted((ROOT / top).rglob("*.py")):
            source = module_name(path)
            edges += [(source, target) for target in sorted(imports_of(path))]
    return edges


def inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def breaking(rule) -> list[tuple[str, str]]:
    return [
        (source, target)
        for source, target in all_imports()
        if rule(source, target) and (source, target) not in KNOWN_EXCEPTIONS
    ]


def test_every_known_exception_is_still_an_edge() -> None:
    # An exception whose import is gone must leave the list, or it would let the edge come back.
    assert KNOWN_EXCEPTIONS - set(all_imports()) == set()


def test_the_source_tree_is_read() -> None:
    edges = all_imports()
    assert ("scoot.supervise.launch", "worker.main") in edges
    assert ("scoot.__main__", "scoot.cli.commands") in edges


def test_worker_imports_only_the_shared_parts_of_the_parent() -> None:
    # scoot itself is allowed for __version__ only; its __init__ imports nothing.
    allowed = ("scoot.shared", "scoot.errors")

    def rule(source: str, target: str) -> bool:
        return (
            inside(source, "worker")
            and inside(target, "scoot")
            and target != "scoot"
            and not any(inside(target, a) for a in allowed)
        )

    assert breaking(rule) == []
    assert imports_of(ROOT / "scoot" / "__init__.py") <= {"__future__"}


def test_shared_imports_nothing_else_of_scoot_or_the_worker() -> None:
    def rule(source: str, target: str) -> bool:
        return inside(source, "scoot.shared") and (
            inside(target, "worker")
            or (
                inside(target, "scoot")
                and not inside(target, "scoot.shared")
                and target != "scoot.errors"
            )
        )

    assert breaking(rule) == []


def test_only_the_cli_imports_the_cli() -> None:
    def rule(source: str, target: str) -> bool:
        return (
            inside(target, "scoot.cli")
            and not inside(source, "scoot.cli")
            and source != "scoot.__main__"
        )

    assert breaking(rule) == []


def test_records_schedule_and_instance_do_not_import_the_processes_above_them() -> None:
    lower = ("scoot.records", "scoot.schedule", "scoot.instance", "scoot.shared")
    upper = ("scoot.cli", "scoot.observe")

    def rule(source: str, target: str) -> bool:
        return any(inside(source, p) for p in lower) and any(inside(target, p) for p in upper)

    assert breaking(rule) == []


# (module, name) pairs the parent's `from module import name` may take from worker/;
# None: a plain `import module`, which preloads it for the fork without using it.
PARENT_MAY_IMPORT = {
    ("worker.main", "child_main"),
    ("worker.main", "RUN_MARK"),
    ("worker.main", None),
    ("worker.agent", None),
    ("worker.sandbox", None),
    ("worker.sandbox.probe", "probe"),
    ("worker.sandbox.probe", "mode_protections"),
    ("worker.backend", "Backend"),
    ("worker.backend", "BackendError"),
    ("worker.backend", "http_failure"),
    ("worker.backend", "one_line"),
}


def named_imports(path: Path) -> list[tuple[str, str | None]]:
    names: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names += [(node.module, alias.name) for alias in node.names]
    return names


def test_the_parent_enters_the_worker_only_through_its_entry() -> None:
    # launch forks into worker.main, the supervisor preloads what a run imports, and
    # the doctor runs the worker's own probe and backend client; nothing else crosses.
    crossing = {
        f"{path.relative_to(ROOT)}: {module} {name}"
        for path in sorted((ROOT / "scoot").rglob("*.py"))
        if "testing" not in path.parts
        for module, name in named_imports(path)
        if inside(module, "worker") and (module, name) not in PARENT_MAY_IMPORT
    }
    assert crossing == set()


# The sizes a reader can hold in mind: a module, a class and a function each stay small.
MAX_MODULE_LINES, MAX_CLASS_LINES, MAX_FUNCTION_LINES = 400, 250, 60


def oversized() -> list[str]:
    found = []
    for path in sorted([*ROOT.glob("scoot/**/*.py"), *ROOT.glob("worker/**/*.py")]):
        text = path.read_text()
        name = path.relative_to(ROOT)
        if len(text.splitlines()) > MAX_MODULE_LINES:
            found.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            limit = MAX_CLASS_LINES if isinstance(node, ast.ClassDef) else MAX_FUNCTION_LINES
            if size > limit:
                found.append(f"{name}:{node.lineno} {node.name}: {size} lines (limit {limit})")
    return found


def test_no_module_class_or_function_outgrows_its_limit() -> None:
    assert oversized() == []

"""The import rules between packages (docs/architecture.md), read from the source with ast."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Edges that break a rule today, each to be removed when its module moves as
# docs/architecture.md describes. A new edge of the same kind fails the test.
KNOWN_EXCEPTIONS = {
    # The run log and the progress lines format with the listing's helpers.
    ("scoot.records.runlog", "scoot.cli.listing"),
    ("scoot.supervise.progress", "scoot.cli.listing"),
    # The metrics read run lateness the way the timeline computes it.
    ("scoot.observe.metrics", "scoot.cli.timeline"),
    # Parent-side sandbox helpers (fd hygiene, scratch dirs, environ scrub, the
    # non-dumpable flag) and the run marker still live in the worker package.
    ("scoot.supervise.launch", "worker.sandbox"),
    ("scoot.supervise.supervisor", "worker.sandbox"),
    # The parent pre-imports the worker's modules so each forked run starts warm.
    ("scoot.supervise.supervisor", "worker.agent"),
    ("scoot.supervise.supervisor", "worker.main"),
    ("scoot.supervise.entrypoints", "worker.sandbox"),
    ("scoot.supervise.procs", "worker.main"),
    ("scoot.cli.commands", "worker.sandbox"),
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


def test_the_parent_enters_the_worker_only_through_its_entry() -> None:
    # launch forks into worker.main; the doctor and the backend check run the
    # worker's own probe and client; nothing else of the parent imports the worker.
    allowed = {
        ("scoot.supervise.launch", "worker.main"),
        ("scoot.cli.doctor", "worker.sandbox.probe"),
        ("scoot.cli.backend_probe", "worker.backend"),
    }

    def rule(source: str, target: str) -> bool:
        return (
            inside(source, "scoot") and inside(target, "worker") and (source, target) not in allowed
        )

    assert breaking(rule) == []

"""The parent and the worker meet only at the edges the package map names.

The worker imports from the parent's tree only scoot.shared (and scoot.errors,
scoot's version); the parent imports from worker/ only the entry it forks into,
the modules it preloads for that fork, the doctor's kernel probe and the backend
client the doctor checks with.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (module, name) pairs `from module import name` may take; None: a plain `import module`,
# which preloads the module for the fork without using it in the parent.
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
WORKER_MAY_IMPORT = ("scoot.shared", "scoot.errors")


def _imports(path: Path) -> list[tuple[str, str | None]]:
    names: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names += [(node.module, alias.name) for alias in node.names]
    return names


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_the_parent_imports_only_the_worker_entry_points() -> None:
    crossing = {
        f"{path.relative_to(ROOT)}: {module} {name}"
        for path in _sources("scoot")
        if "testing" not in path.parts
        for module, name in _imports(path)
        if module.split(".")[0] == "worker" and (module, name) not in PARENT_MAY_IMPORT
    }
    assert crossing == set()


def test_the_worker_imports_only_the_shared_part_of_scoot() -> None:
    crossing = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in _sources("worker")
        for module, _name in _imports(path)
        if module.startswith("scoot.") and not module.startswith(WORKER_MAY_IMPORT)
    }
    assert crossing == set()

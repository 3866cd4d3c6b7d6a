"""The worker's modules, imported once in the parent so every forked run starts with them loaded.

This is what makes fork cheap: the child skips ~100 ms of imports (see
bench/launch_cost.py). The only place the parent imports worker internals.
"""

from __future__ import annotations


def preload_worker() -> None:
    import setproctitle  # noqa: F401

    import worker.agent  # noqa: F401
    import worker.main  # noqa: F401
    import worker.sandbox  # noqa: F401

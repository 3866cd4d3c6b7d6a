"""scoot: the scheduler and daemon of Scoot, a local-first AI-agent runtime.

Kept import-free on purpose: the worker imports `scoot.shared.policy` and
`scoot.shared.frames`, and every import here would be paid by every run.
"""

__version__ = "0.1.0"

"""What the parent and a run's worker agree on, importable by both sides."""

from __future__ import annotations

# The variable that marks every process of a run with its run id: the parent finds
# a run's processes by it (scoot.supervise.procs), even after a crash of its owner.
RUN_MARK = "SCOOT_RUN_ID"

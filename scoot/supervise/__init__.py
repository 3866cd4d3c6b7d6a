"""The supervisor: the loop, worker launch, signals, processes, lifecycle, the daemon."""

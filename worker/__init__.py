"""worker: the child side of scoot; runs one goal in an isolated process."""

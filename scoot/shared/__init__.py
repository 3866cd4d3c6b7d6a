"""What the parent and the worker both need; the only parent code worker/ may import."""

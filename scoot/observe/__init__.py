"""Metrics: the Prometheus families, their endpoint in the loop, the text file."""

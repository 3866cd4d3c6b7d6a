"""The TOML 1.0 parser scoot reads config.toml with.

tomli is the parser the standard library's tomllib was taken from; its 2.2
release reads the same TOML 1.0 with the same messages, and its compiled
wheels parse a 10,000-job config about twice as fast (docs/performance.md).
tomli 2.3 and later read TOML 1.1, which would let configs that Python 3.11's
tomllib refuses start to load, so the dependency stays below 2.3 (where no
compiled wheel exists, pip installs tomli's pure-Python build: the same parser
at tomllib's speed).
"""

from __future__ import annotations

from tomli import TOMLDecodeError, loads

__all__ = ["TOMLDecodeError", "loads"]

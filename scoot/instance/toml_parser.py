"""The TOML 1.0 parser scoot reads config.toml with.

tomli 2.0 to 2.2 is the parser the standard library's tomllib was taken from:
the same TOML 1.0 grammar and the same messages, and its compiled wheels
parse a 10,000-job config about 2.3 times as fast (docs/performance.md).
tomli 2.3 and later read TOML 1.1, which would let configs that Python 3.11's
tomllib refuses start to load, so the dependency stays below 2.3; where tomli
is missing, tomllib reads the file the same way, only slower.
"""

from __future__ import annotations

try:
    from tomli import TOMLDecodeError, loads
except ImportError:  # pragma: no cover - tomli is a dependency; tomllib is the same parser
    from tomllib import TOMLDecodeError, loads

__all__ = ["TOMLDecodeError", "loads"]

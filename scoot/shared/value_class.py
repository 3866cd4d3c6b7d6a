"""value_class: a dataclass compared and hashed by value, immutable to the type checker.

Why not ``dataclass(frozen=True)``: on Python 3.11 each frozen class costs
its import about 2.4x a plain one (two more generated methods, each compiled
on its own, and a longer ``__init__``), and each instance about 4.5x as long
to build (every field set through ``object.__setattr__``). With some eighty
such classes on the path of every command, that was a sixth of a one-shot
tick and of a listing (docs/performance.md). Immutability is held by mypy
instead, which ``.ci/run`` runs strict over every module: ``frozen_default``
makes it reject any assignment to a field, as it does for a frozen dataclass.

Equality and hashing are those of a frozen dataclass (``eq`` and a hash of
the fields), so these values still work as keys and in sets. The two
objects that carry a run's power, the request the scheduler resolves
(scoot.supervise.runner.RunRequest) and the spec the worker is given
(scoot.shared.run_spec.RunSpec), stay frozen at run time too, as a second
guard.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar, cast, dataclass_transform, overload

_Class = TypeVar("_Class", bound=type)


@overload
def value_class(cls: _Class, /) -> _Class: ...


@overload
def value_class(*, slots: bool = False, kw_only: bool = False) -> Callable[[_Class], _Class]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def value_class(
    cls: _Class | None = None, /, *, slots: bool = False, kw_only: bool = False
) -> _Class | Callable[[_Class], _Class]:
    def make(plain: _Class) -> _Class:
        made: type = dataclasses.dataclass(plain, unsafe_hash=True, slots=slots, kw_only=kw_only)
        return cast(_Class, made)

    return make if cls is None else make(cls)

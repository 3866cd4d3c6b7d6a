"""value_class: a dataclass compared and hashed by value, immutable to the type checker.

Why not ``dataclass(frozen=True)``: on Python 3.11 every method a dataclass
generates is compiled on its own when its module is imported, and a frozen
class has six (``__init__``, ``__repr__``, ``__eq__``, ``__hash__``,
``__setattr__``, ``__delattr__``); each instance is also about 4.5x as long
to build, every field set through ``object.__setattr__``. With some eighty
such classes on the path of every command, building them was about a third
of the imports of a one-shot tick and of a listing (docs/performance.md).
Here only ``__init__`` is generated; equality, hashing and the repr are
written once, below, and read the class's fields through getters made with
the class. Immutability is held by mypy instead, which ``.ci/run`` runs
strict over every module: ``frozen_default`` makes it reject any assignment
to a field, as it does for a frozen dataclass.

Equality, hashing and the repr are those of a frozen dataclass: equal when
of the same class with equal compared fields; a hash of the hashed fields
(``field(hash=False)`` and ``compare=False`` honoured); ``Name(a=1, b=2)``
over the fields shown. So these values still work as keys and in sets. The
two objects that carry a run's power, the request the scheduler resolves
(scoot.supervise.runner.RunRequest) and the spec the worker is given
(scoot.shared.run_spec.RunSpec), stay frozen at run time too, as a second
guard.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from operator import attrgetter
from reprlib import recursive_repr
from typing import Any, TypeVar, cast, dataclass_transform, overload

__all__ = ["value_class"]

_Class = TypeVar("_Class", bound=type)


def _getter(names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    """A C-speed getter of these fields as one tuple (attrgetter returns a bare value for one)."""
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda value: (one(value),)
    if not names:
        return lambda value: ()
    return cast(Callable[[Any], tuple[Any, ...]], attrgetter(*names))


# The getters are read from the class: a function read from an instance would be bound to it.
def _eq(self: Any, other: Any) -> object:
    if other.__class__ is not self.__class__:
        return NotImplemented
    compared = self.__class__._value_compared
    return compared(self) == compared(other)


def _hash(self: Any) -> int:
    return hash(self.__class__._value_hashed(self))


@recursive_repr()
def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._value_shown)
    return f"{self.__class__.__qualname__}({shown})"


@overload
def value_class(cls: _Class, /) -> _Class: ...


@overload
def value_class(*, slots: bool = False, kw_only: bool = False) -> Callable[[_Class], _Class]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def value_class(
    cls: _Class | None = None, /, *, slots: bool = False, kw_only: bool = False
) -> _Class | Callable[[_Class], _Class]:
    def make(plain: _Class) -> _Class:
        own = set(plain.__dict__)  # a method the class writes itself is kept
        made: Any = dataclasses.dataclass(plain, repr=False, eq=False, slots=slots, kw_only=kw_only)
        fields = dataclasses.fields(made)
        made._value_compared = _getter([f.name for f in fields if f.compare])
        hashed = [f.name for f in fields if (f.compare if f.hash is None else f.hash)]
        made._value_hashed = _getter(hashed)
        made._value_shown = tuple(f.name for f in fields if f.repr)
        for name, method in (("__eq__", _eq), ("__hash__", _hash), ("__repr__", _repr)):
            if name not in own:
                setattr(made, name, method)
        return cast(_Class, made)

    return make if cls is None else make(cls)

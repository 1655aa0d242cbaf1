"""A small typed registry that refuses duplicate names (lm-eval-harness style)."""

from __future__ import annotations

from typing import Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, what: str):
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"duplicate {self.what} {name!r}")
        self._items[name] = item
        return item

    def remove(self, name: str) -> T:
        """Unregister ``name`` (a test-local item); KeyError when it is not registered."""
        return self._items.pop(name)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a test-local kind or writer, after its test)."""
        self._items.pop(name, None)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise KeyError(f"unknown {self.what} {name!r} (known: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._items.items())

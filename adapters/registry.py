"""Adapter discovery through the ``publisher.adapters`` entry-point group."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from adapters.base import Adapter

GROUP = "publisher.adapters"


class UnknownNetworkError(LookupError):
    pass


@cache
def available() -> dict[str, type[Adapter]]:
    """Every installed adapter by network name (built-in and third-party alike)."""
    found: dict[str, type[Adapter]] = {}
    for ep in entry_points(group=GROUP):
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, Adapter)):
            raise TypeError(f"entry point {ep.name} = {ep.value} is not an Adapter subclass")
        found[ep.name] = cls
    return found


def adapter_class(network: str) -> type[Adapter]:
    try:
        return available()[network]
    except KeyError:
        known = ", ".join(sorted(available())) or "none installed"
        raise UnknownNetworkError(f"unknown network {network!r} (known: {known})") from None

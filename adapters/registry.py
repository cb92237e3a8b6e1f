"""Adapter discovery through the ``publisher.adapters`` entry-point group."""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points

from publisher.adapters.base import Adapter

GROUP = "publisher.adapters"


class UnknownNetworkError(LookupError):
    pass


@cache
def available() -> dict[str, EntryPoint]:
    """Every installed adapter by network name (built-in and third-party alike), not loaded."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


@cache
def adapter_class(network: str) -> type[Adapter]:
    """Load one network's adapter; only the networks a config uses are ever imported."""
    try:
        ep = available()[network]
    except KeyError:
        known = ", ".join(sorted(available())) or "none installed"
        raise UnknownNetworkError(f"unknown network {network!r} (known: {known})") from None
    cls = ep.load()
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise TypeError(f"entry point {ep.name} = {ep.value} is not an Adapter subclass")
    return cls

"""A post's ``options:``: every key an editor writes is taken by a network, or reported.

Adapters declare the options they take as data (``Adapter.post_options``: name to
``OptionSpec``). Where an option is written decides which networks it is for:

* in ``defaults:``, the networks of every account in publisher.toml;
* in a post, the networks of the post's accounts;
* in an override, that network, or the network of that account.

A key none of those networks takes is an error at the key, with the nearest option name; a
key some of them take is for those (the others ignore it); a value one of them refuses is an
error at the value. ``null`` removes an inherited value, so it passes for any known key.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from publisher.adapters.base import OptionSpec
from publisher.adapters.registry import adapter_class
from publisher.diagnostics import quoted, suggest


@functools.cache
def declared(network: str) -> Mapping[str, OptionSpec]:
    """The options ``network``'s adapter takes (its class is loaded: configured networks are)."""
    return adapter_class(network).post_options


@dataclass(frozen=True)
class OptionProblem:
    key: str
    message: str
    at_key: bool  # the key is wrong; else its value


def option_problems(options: Mapping[str, Any], networks: Iterable[str]) -> list[OptionProblem]:
    """What is wrong with ``options`` written for ``networks``: unknown keys, bad values."""
    takes = {n: declared(n) for n in sorted(set(networks))}
    out: list[OptionProblem] = []
    for key, value in options.items():
        takers = [n for n, specs in takes.items() if key in specs]
        if not takers:
            out.append(OptionProblem(key, _unknown(key, takes), True))
            continue
        if value is None:
            continue
        for network in takers:
            problem = takes[network][key].problem(value)
            if problem is not None:
                out.append(OptionProblem(key, f"{problem} ({network} {key})", False))
                break
    return out


def _unknown(key: str, takes: Mapping[str, Mapping[str, OptionSpec]]) -> str:
    where = ", ".join(takes) or "no network"
    names = sorted({name for specs in takes.values() for name in specs})
    if not names:
        verb = "takes" if len(takes) == 1 else "take"
        return f"unknown option {quoted(key)}: {where} {verb} no options"
    close = suggest(key, names)
    if close is not None:
        return f"unknown option {quoted(key)} for {where}; did you mean {close!r}?"
    return f"unknown option {quoted(key)} for {where} (options: {', '.join(names)})"

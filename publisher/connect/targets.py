"""Where each value a flow obtains goes, decided from the account's table before the flow
runs (so a config that cannot take the result is refused before anyone logs in).

A secret goes only through a ``${NAME}`` reference: stored as ``NAME``. A plain value (a page
id, a chat) may be a reference too, else the literal in ``publisher.toml`` is the operator's
choice: the flow is told, and a different answer from the network is reported, not written.
``publisher.toml`` itself is never written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from publisher.connect.flow import Account, ConnectError, Flow, Obtained


@dataclass(frozen=True)
class Target:
    key: str  # the account's field
    reference: str | None  # NAME of ${NAME}: stored there
    literal: str | None  # written in publisher.toml: compared, never changed
    secret: bool


@dataclass(frozen=True)
class Placement:
    """The values to store by reference name, and what to tell the operator."""

    values: Mapping[str, str]
    notes: tuple[str, ...]


def suggested_name(account: str, key: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", f"{account}_{key}".upper())


def plan(account: Account, flow: Flow) -> list[Target]:
    """Each output's target; a ``ConnectError`` listing every fix the config needs first."""
    targets: list[Target] = []
    problems: list[str] = []
    prefix = f"accounts.{account.name}"
    for output in flow.outputs:
        key = next((k for k in output.fields if k in account.table), None)
        if key is None:
            if output.required and output.secret:  # a plain value is reported, to be added
                name = suggested_name(account.name, output.fields[0])
                problems.append(
                    f'add {output.fields[0]} = "${{{name}}}" to [{prefix}] (the connect '
                    "stores the value as that name)"
                )
            else:
                targets.append(Target(output.fields[0], None, None, output.secret))
            continue
        ref = account.reference(key)
        if ref is not None:
            targets.append(Target(key, ref, None, output.secret))
        elif output.secret:
            name = suggested_name(account.name, key)
            problems.append(
                f'{prefix}.{key} holds the secret itself: write {key} = "${{{name}}}" instead '
                "(publisher.toml is never written with a secret)"
            )
        else:
            targets.append(Target(key, None, str(account.table[key]), output.secret))
    if problems:
        raise ConnectError(f"{account.config_path}: " + "; ".join(problems))
    return targets


def place(account: Account, targets: list[Target], obtained: Obtained) -> Placement:
    by_key = {t.key: t for t in targets}
    values: dict[str, str] = {}
    notes: list[str] = []
    prefix = f"accounts.{account.name}"
    for key, value in obtained.values.items():
        target = by_key.get(key)
        if target is not None and target.reference is not None:
            values[target.reference] = value
        elif target is not None and target.literal is not None:
            if target.literal != value:
                notes.append(
                    f"{prefix}.{key} is {target.literal!r} in publisher.toml but the network "
                    f"gave {value!r}: change it there"
                )
        elif target is not None and target.secret:
            name = suggested_name(account.name, key)
            notes.append(
                f'not stored: {key} (add {key} = "${{{name}}}" to [{prefix}] and connect again)'
            )
        else:
            notes.append(f"add {key} = {_toml_string(value)} to [{prefix}]")
    return Placement(values, tuple(notes))


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

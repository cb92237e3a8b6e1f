"""Secrets: values that must never reach logs, dry-run output, tracebacks or the database.

A ``Secret`` prints as ``***``; its value only comes out through ``reveal()``. Every
resolved value is also registered with ``REDACTOR`` (``publisher.redact``, which says how and
why), so log lines and error messages that somehow carry one, in whatever encoding (an HTTP
library echoing a header, say), are scrubbed anyway.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from publisher.redact import MIN_LENGTH, REDACTOR, Redactor

__all__ = [
    "MIN_LENGTH",
    "REDACTOR",
    "MissingSecretError",
    "Redactor",
    "Secret",
    "SecretSource",
    "resolve_reference",
]

REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class MissingSecretError(Exception):
    """A ``${NAME}`` reference that neither the environment nor the credentials dir holds."""


class Secret:
    """A resolved (or unresolved) secret; ``str()`` never shows the value."""

    __slots__ = ("_value", "name", "where")

    def __init__(self, name: str, value: str | None, where: str = "") -> None:
        self.name = name
        self._value = value
        self.where = where  # e.g. "accounts.brand-x.api_key", for error messages
        if value:
            REDACTOR.add(value)

    @property
    def resolved(self) -> bool:
        return self._value is not None

    def reveal(self) -> str:
        if self._value is None:
            raise MissingSecretError(
                f"{self.where}: secret ${{{self.name}}} is not set "
                f"(set the environment variable {self.name} or the file "
                f"$CREDENTIALS_DIRECTORY/{self.name})"
            )
        return self._value

    def __repr__(self) -> str:
        return f"Secret(${{{self.name}}})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.name == self.name and other._value == self._value

    def __hash__(self) -> int:
        return hash(self.name)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def coerce(value: Any) -> Secret:
            if isinstance(value, Secret):
                return value
            if isinstance(value, str):
                # A literal secret in the config file: allowed, but still never printed.
                return Secret("literal", value)
            raise ValueError("expected a string or a ${NAME} reference")

        return core_schema.no_info_plain_validator_function(
            coerce, serialization=core_schema.plain_serializer_function_ser_schema(repr)
        )


@dataclass(frozen=True)
class SecretSource:
    """Where ``${NAME}`` is looked up: the environment, then ``$CREDENTIALS_DIRECTORY``."""

    environ: dict[str, str]
    credentials_dir: Path | None

    @classmethod
    def from_environment(cls) -> SecretSource:
        creds = os.environ.get("CREDENTIALS_DIRECTORY")
        return cls(dict(os.environ), Path(creds) if creds else None)

    def lookup(self, name: str, where: str) -> str | None:
        if name in self.environ:
            return self.environ[name]
        if self.credentials_dir is None:
            return None
        path = self.credentials_dir / name
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        loose = stat.S_IRWXO | (0 if _has_acl(path) else stat.S_IRWXG)
        if st.st_mode & loose:
            raise PermissionError(
                f"{where}: secret file {path} is readable by group or others "
                f"(mode {stat.S_IMODE(st.st_mode):o}); run chmod 600 {path}"
            )
        return path.read_text(encoding="utf-8").rstrip("\r\n")


def _has_acl(path: Path) -> bool:
    """systemd grants a DynamicUser its credentials through an ACL; the group bits then
    show the ACL mask, not a group's access, so they must not count against the file."""
    try:
        return bool(os.getxattr(path, "system.posix_acl_access"))
    except OSError:
        return False


def resolve_reference(value: str, source: SecretSource, where: str) -> str | Secret:
    """A whole-string ``${NAME}`` becomes a Secret; other strings are returned as they are."""
    m = REFERENCE.fullmatch(value.strip())
    if m is None:
        if REFERENCE.search(value):
            raise ValueError(f"{where}: a ${{NAME}} reference must be the whole value")
        return value
    name = m.group(1)
    return Secret(name, source.lookup(name, where), where)

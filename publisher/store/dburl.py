"""Database URLs: which driver, and how a message may show one. No SQLAlchemy here, so the
config and ``validate`` can check a URL without loading the database layer."""

from __future__ import annotations

import re


class DatabaseURLError(ValueError):
    pass


def driver_url(url: str) -> str:
    """Map the config's URL to the driver SQLAlchemy uses: pysqlite, or asyncpg."""
    if url.startswith(("sqlite+pysqlite:", "postgresql+asyncpg:")):
        return url
    if m := re.match(r"^sqlite(?:\+aiosqlite)?:(//.*)$", url):
        return f"sqlite+pysqlite:{m.group(1)}"
    if m := re.match(r"^postgres(?:ql)?:(//.*)$", url):
        return f"postgresql+asyncpg:{m.group(1)}"
    raise DatabaseURLError(
        f"unsupported database URL {redact_url(url)!r} "
        "(use sqlite:///path/queue.db or postgresql://user@host/db)"
    )


def redact_url(url: str) -> str:
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def is_sqlite(url: str) -> bool:
    return driver_url(url).startswith("sqlite")

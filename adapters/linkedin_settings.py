"""A LinkedIn account's settings, as the config gives them: the author's URN, the token and
its noted expiry, the LinkedIn-Version sent, the visibility of posts."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlsplit

from pydantic import field_validator, model_validator

from publisher.adapters.base import AccountSettings
from publisher.secrets import Secret

# The LinkedIn-Version sent unless the account sets `version`. LinkedIn serves each monthly
# version for about a year (at least one, its versioning page says) and refuses a retired one
# with 426 NONEXISTENT_VERSION: 202511 was retired on 2026-11-16. 202607 (July 2026) is the
# newest version the versioning page names as the latest in what we could consult; it is
# served until about July 2027 (``apiversions.linkedin_sunset``; `accounts check` warns a
# month before).
DEFAULT_VERSION = "202607"
VISIBILITIES = frozenset({"PUBLIC", "CONNECTIONS", "LOGGED_IN"})
AUTHOR_RE = re.compile(r"urn:li:(?:organization:(?P<org>\d+)|person:(?P<person>[A-Za-z0-9_-]+))")
VERSION_RE = re.compile(r"(?P<year>\d{4})(?P<month>\d{2})(?:\.\d{2})?")
EXPIRY_WARNING = timedelta(days=7)  # `accounts check` warns this long before expiry
_UNRESOLVED_REF = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


class LinkedInSettings(AccountSettings):
    author: str  # urn:li:organization:123 (a company page) or urn:li:person:abc (a member)
    token: Secret
    api_base: str = "https://api.linkedin.com"
    version: str = DEFAULT_VERSION  # the LinkedIn-Version header, YYYYMM
    token_expires: datetime | date | None = None  # the operator's note of the 60-day expiry
    visibility: str = "PUBLIC"
    client_id: str | None = None  # the app's Client ID and secret: `accounts connect` only
    client_secret: Secret | None = None

    @field_validator("author")
    @classmethod
    def _author_urn(cls, value: str) -> str:
        value = value.strip()
        if _UNRESOLVED_REF.fullmatch(value):
            return value  # an unresolved ${NAME} in a dry run: nothing is sent
        if AUTHOR_RE.fullmatch(value) is None:
            raise ValueError(
                "must be an organization or member URN: urn:li:organization:123 "
                "or urn:li:person:AbC-123"
            )
        return value

    @field_validator("token_expires", mode="before")
    @classmethod
    def _expiry_not_stored_yet(cls, value: object) -> object:
        # ``${NAME}`` that `accounts connect` fills: unknown until then (a dry run, validate).
        return None if isinstance(value, str) and _UNRESOLVED_REF.fullmatch(value) else value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        value = str(value).strip()
        m = VERSION_RE.fullmatch(value)
        if m is None or not 1 <= int(m.group("month")) <= 12:
            raise ValueError(f"must be a LinkedIn API version, YYYYMM (e.g. {DEFAULT_VERSION})")
        return value

    @field_validator("visibility")
    @classmethod
    def _visibility(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in VISIBILITIES:
            raise ValueError(f"must be one of {', '.join(sorted(VISIBILITIES))}")
        return value

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _connections_are_for_members(self) -> LinkedInSettings:
        if self.visibility == "CONNECTIONS" and self.author.startswith("urn:li:organization:"):
            raise ValueError("visibility CONNECTIONS is for members; a page posts PUBLIC")
        return self

    @property
    def expires_at(self) -> datetime | None:
        """``token_expires`` as an aware UTC time: a date means its first instant, in UTC."""
        value = self.token_expires
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return datetime.combine(value, time(0, 0), tzinfo=UTC)

    def expiry_warning(self, now: datetime) -> str | None:
        """What to tell an operator about the token's expiry at ``now``, if anything."""
        expires = self.expires_at
        if expires is None:
            return None
        when = f"{expires:%Y-%m-%d %H:%M}Z"
        if now >= expires:
            return (
                f"the LinkedIn access token expired {when} (token_expires): create a new "
                "one, then update token and token_expires"
            )
        left = expires - now
        if left <= EXPIRY_WARNING:
            days = left.days
            soon = f"in {days} day{'s' if days != 1 else ''}" if days else "within a day"
            return (
                f"the LinkedIn access token expires {soon} ({when}): refresh it, "
                "then update token and token_expires"
            )
        return None

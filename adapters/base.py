"""The adapter contract: a network's rules as data, a pure render, an async publish.

An adapter is constructed once per account. ``render`` is pure (no I/O, no clock) so that
``publisher dry-run`` shows exactly what ``publish`` will send. ``publish`` maps every
third-party failure to one of the error classes below at the boundary (``raise ... from err``);
nothing else may escape it. Adapters never read the wall clock nor sleep: they use the
``AdapterContext`` the engine hands them.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar

import aiohttp
from pydantic import BaseModel, ConfigDict, model_validator

from publisher.adapters.capabilities import MIN_LENGTH_LIMIT as MIN_LENGTH_LIMIT
from publisher.adapters.capabilities import Capabilities as Capabilities
from publisher.adapters.capabilities import MediaLimits as MediaLimits
from publisher.adapters.capabilities import OptionSpec as OptionSpec
from publisher.adapters.shared import render_with
from publisher.clock import Clock

# The content types live in ``publisher.content`` (the core imports them from there); they are
# handed on here so that an adapter finds its whole contract in this module.
from publisher.content import DeliveryRef as DeliveryRef
from publisher.content import LinkCard as LinkCard
from publisher.content import MediaItem as MediaItem
from publisher.content import MediaRef as MediaRef
from publisher.content import PostContent as PostContent
from publisher.content import Published as Published
from publisher.content import RemotePart as RemotePart
from publisher.content import Rendered as Rendered
from publisher.content import RenderedPart as RenderedPart
from publisher.content import ThreadMode as ThreadMode
from publisher.media import MediaError, MediaFile, MediaRoots, limit_for, open_media
from publisher.redact import ours
from publisher.secrets import REDACTOR, MissingSecretError, Secret
from publisher.text import LengthRule as LengthRule

# ---------------------------------------------------------------------------
# Our error types. Every network failure becomes exactly one of these.


class Attention(StrEnum):
    CREDENTIALS = "credentials"  # token revoked/expired: the account needs a human
    PERMISSION = "permission"  # the app lacks a permission
    CONTENT = "content"  # the post itself was refused
    FLAGGED = "flagged"  # the network flagged the account (spam block)


class AdapterError(Exception):
    """Base of every error a publish may raise; ``partial`` lists thread parts already out."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        partial: Sequence[RemotePart] = (),
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.partial = tuple(partial)

    def with_partial(self, partial: Sequence[RemotePart]) -> AdapterError:
        self.partial = tuple(partial)
        return self


class TransientError(AdapterError):
    """Nothing was created; trying again later is safe."""


class RateLimitedError(AdapterError):
    """The network refused for now; ``reset_at`` (absolute) or ``retry_after`` (relative)."""

    def __init__(
        self,
        reason: str,
        *,
        reset_at: datetime | None = None,
        retry_after: timedelta | None = None,
        attention: Attention | None = None,
        status: int | None = None,
        partial: Sequence[RemotePart] = (),
    ) -> None:
        super().__init__(reason, status=status, partial=partial)
        self.reset_at = reset_at
        self.retry_after = retry_after
        self.attention = attention


class PermanentError(AdapterError):
    """Trying again will not help; ``attention`` says what a human must fix."""

    def __init__(
        self,
        reason: str,
        *,
        attention: Attention | None = None,
        status: int | None = None,
        partial: Sequence[RemotePart] = (),
    ) -> None:
        super().__init__(reason, status=status, partial=partial)
        self.attention = attention


class AmbiguousError(AdapterError):
    """The request may have landed: resolve by lookup or idempotency, never a blind resend."""

    def __init__(
        self,
        reason: str,
        *,
        remote_id: str | None = None,
        status: int | None = None,
        partial: Sequence[RemotePart] = (),
    ) -> None:
        super().__init__(reason, status=status, partial=partial)
        self.remote_id = remote_id


# ---------------------------------------------------------------------------
# Reconciliation and account checks.


@dataclass(frozen=True)
class Candidate:
    remote_id: str
    url: str | None
    text: str
    created_at: datetime | None


@dataclass(frozen=True)
class Found:
    published: Published


@dataclass(frozen=True)
class Absent:
    """The network proves the post is not there: sending again is safe."""


@dataclass(frozen=True)
class Unknowable:
    reason: str


LookupResult = Found | Absent | Unknowable


class CheckStatus(StrEnum):
    OK = "ok"
    ATTENTION = "attention"


@dataclass(frozen=True)
class AccountCheck:
    status: CheckStatus
    identity: str = ""
    expires_at: datetime | None = None
    detail: str = ""


# ---------------------------------------------------------------------------
# The adapter itself.


@dataclass
class AdapterContext:
    """What the engine lends an adapter: one shared HTTP session and the clock seam."""

    session: aiohttp.ClientSession | None
    clock: Clock
    timeout: aiohttp.ClientTimeout = field(
        default_factory=lambda: aiohttp.ClientTimeout(total=60, sock_connect=10, sock_read=30)
    )
    # Waiting (media processing polls) goes through the clock seam, never asyncio.sleep.
    wait: Callable[[timedelta], Any] | None = None
    # The media roots in force (``build_adapters`` sets them from the config): a file is
    # read only from beneath one of them. None: each item's own root (a standalone adapter).
    media: MediaRoots | None = None

    async def pause(self, delay: timedelta) -> None:
        if self.wait is not None:
            await self.wait(delay)
            return
        await self.clock.sleep_until(self.clock.now() + delay, asyncio.Event())

    def http(self) -> aiohttp.ClientSession:
        if self.session is None:
            raise PermanentError("this adapter was built for rendering only (no HTTP session)")
        return self.session


class AccountSettings(BaseModel):
    """Base of each adapter's account settings; unknown keys are errors.

    Fields typed ``Secret`` keep their value wrapped; a ``${NAME}`` reference given to any
    other field (a page id, say) is revealed into it, since it is not a secret there.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _reveal_plain_references(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, value in data.items():
            field_info = cls.model_fields.get(name)
            plain = field_info is not None and "Secret" not in str(field_info.annotation)
            if isinstance(value, Secret) and plain:
                out[name] = value.reveal()
        return out


class Adapter(ABC):
    """One network's rules and HTTP client, for one account."""

    network: ClassVar[str]
    Settings: ClassVar[type[AccountSettings]] = AccountSettings
    # How long the network itself ignores a repeat of a request sent with the same
    # idempotency key (``DeliveryRef.part_key``). Within it, an unknown delivery is settled by
    # simply sending again; None: only a lookup can settle it.
    idempotency_window: ClassVar[timedelta | None] = None
    # The per-post options it takes, by name; any other key is for another network (or an
    # error the queue parser reports). See OptionSpec.
    post_options: ClassVar[Mapping[str, OptionSpec]] = MappingProxyType({})

    def __init__(self, account: str, settings: AccountSettings, context: AdapterContext) -> None:
        self.account = account
        self.settings = settings
        self.context = context

    @abstractmethod
    def capabilities(self) -> Capabilities:
        """The rules render must satisfy; may depend on the account's settings."""

    def render(self, content: PostContent) -> Rendered:
        """Split, check and build the exact payloads. Pure."""
        return render_with(self, content)

    @abstractmethod
    def build_payload(
        self, text: str, media: Sequence[MediaItem], index: int, total: int, content: PostContent
    ) -> Mapping[str, Any]:
        """The exact body of one part; media uploads appear as "<media:N>" placeholders."""

    @abstractmethod
    async def publish(
        self, rendered: Rendered, ref: DeliveryRef, done: Sequence[RemotePart] = ()
    ) -> Published:
        """Send the parts not in ``done`` (a thread resumed after a partial failure)."""

    async def prepare(self) -> None:  # noqa: B027 - optional hook
        """Learn what render needs from the network (e.g. an instance's limits). Optional."""

    async def lookup(self, ref: DeliveryRef, rendered: Rendered, since: datetime) -> LookupResult:
        """Is this delivery already on the network? Used to resolve ``unknown`` deliveries."""
        return Unknowable(f"{self.network} has no lookup")

    async def check(self) -> AccountCheck:
        """Verify the account's credentials against the network."""
        return AccountCheck(CheckStatus.ATTENTION, detail=f"{self.network} has no check")

    async def read_media(self, item: MediaItem) -> MediaFile:
        """The file to upload for ``item``, opened once beneath its root and checked again.

        Upload ``.data`` and nothing else: those are the bytes checked, and the file is not
        opened again by its path. A file that changed since the sync but is still an image or
        video of the type checked then, inside its root and within the network's size, is
        sent as it is now (what the editor last saved); any other change refuses the post.
        """
        limits = self.capabilities().media
        limit = limit_for(item.kind == "image", limits.max_image_bytes, limits.max_video_bytes)
        try:
            found = await asyncio.to_thread(
                open_media, item.file, self.context.media, limit=limit
            )
        except MediaError as err:
            raise PermanentError(ours(str(err)), attention=Attention.CONTENT) from None
        expected = item.mime_type
        if (expected and found.mime_type != expected) or (
            not expected and not found.mime_type.startswith("image/")
        ):
            raise PermanentError(
                ours(
                    f"{item.name} changed since it was checked: it is {found.mime_type} now, "
                    f"not {expected or 'an image'}"
                ),
                attention=Attention.CONTENT,
            )
        return found

    def reveal(self, secret: Secret) -> str:
        """A secret's value for a request; a missing one means the account needs a human."""
        try:
            return secret.reveal()
        except MissingSecretError as err:
            raise PermanentError(str(err), attention=Attention.CREDENTIALS) from None

    def scrub(self, text: str) -> str:
        """Outside text with every registered secret (this account's are registered when
        resolved) masked in every form it travels in; see ``publisher.redact``."""
        return REDACTOR.scrub(text)

    def secrets(self) -> tuple[Secret, ...]:
        """The account's secrets, so logs and errors can be scrubbed of them."""
        return tuple(v for v in self.settings.__dict__.values() if isinstance(v, Secret))

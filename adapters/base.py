"""The adapter contract: a network's rules as data, a pure render, an async publish.

An adapter is constructed once per account. ``render`` is pure (no I/O, no clock) so that
``publisher dry-run`` shows exactly what ``publish`` will send. ``publish`` maps every
third-party failure to one of the error classes below at the boundary (``raise ... from err``);
nothing else may escape it. Adapters never read the wall clock nor sleep: they use the
``AdapterContext`` the engine hands them.

``publish`` is a template: it refuses a post render found errors in, walks the parts, skips
the ones already out, and asks the network's ``publish_part`` for each of the others, carrying
the parts out so far on any error (``AdapterError.partial``). An exception that is not one of
ours (a bug of the adapter's) meets one policy there; see ``Adapter.publish``. HTTP networks
build on ``publisher.adapters.transport.HttpAdapter``, which adds the one HTTP boundary.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator

from publisher.adapters.capabilities import MIN_LENGTH_LIMIT as MIN_LENGTH_LIMIT
from publisher.adapters.capabilities import Capabilities as Capabilities
from publisher.adapters.capabilities import Comments as Comments
from publisher.adapters.capabilities import MediaLimits as MediaLimits
from publisher.adapters.capabilities import OptionSpec as OptionSpec
from publisher.adapters.engagement import Engagement as Engagement
from publisher.adapters.engagement import PostGone as PostGone
from publisher.adapters.engagement import PostNumbers as PostNumbers
from publisher.adapters.engagement import PostReading as PostReading
from publisher.adapters.listening import Heard as Heard
from publisher.adapters.listening import HeardPage as HeardPage
from publisher.adapters.listening import ItemKind as ItemKind
from publisher.adapters.listening import Listening as Listening
from publisher.adapters.listening import OwnPost as OwnPost
from publisher.adapters.shared import render_with
from publisher.clock import Clock

# The content types live in ``publisher.content`` (the core imports them from there); they are
# handed on here so that an adapter finds its whole contract in this module.
from publisher.content import DeliveryRef as DeliveryRef
from publisher.content import LinkCard as LinkCard
from publisher.content import MediaItem as MediaItem
from publisher.content import MediaRef as MediaRef
from publisher.content import PostContent as PostContent
from publisher.content import Problem as Problem
from publisher.content import Published as Published
from publisher.content import RemotePart as RemotePart
from publisher.content import Rendered as Rendered
from publisher.content import RenderedPart as RenderedPart
from publisher.content import ReplyTarget as ReplyTarget
from publisher.content import Role as Role
from publisher.content import Subject as Subject
from publisher.content import ThreadMode as ThreadMode
from publisher.media import MediaError, MediaFile, MediaRoots, limit_for, open_media
from publisher.redact import ours
from publisher.secrets import REDACTOR, MissingSecretError, Secret
from publisher.text import LengthRule as LengthRule

# ---------------------------------------------------------------------------
# Our error types. Every network failure becomes exactly one of these.

if TYPE_CHECKING:  # aiohttp loads with the session: rendering (validate, dry-run) needs none
    import aiohttp

    from publisher.adapters.hosting import MediaHost


class Attention(StrEnum):
    CREDENTIALS = "credentials"  # token revoked/expired: the account needs a human
    VERSION = "version"  # the API version configured is no longer served: update it
    MEDIA_HOST = "media_host"  # the [media] host is misconfigured or refuses: fix the config
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


class ScrubbedCause(Exception):
    """Stands in, as the cause of one of our errors, for an exception whose text carried a
    secret: its type's name and its text, scrubbed."""


def safe_cause(err: BaseException, scrub: Callable[[str], str]) -> BaseException:
    """What to raise our error ``from``: ``err`` itself, unless its text carries a secret
    (an aiohttp error quoting a URL with a token in its query), then a scrubbed stand-in."""
    text = f"{err!s} {err!r}"
    if scrub(text) == text:
        return err
    return ScrubbedCause(f"{type(err).__name__}: {scrub(str(err))}")


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
# Publishing, part by part.


@dataclass
class Progress:
    """One publish under way, as ``publish`` hands it to ``publish_part``: the delivery, the
    rendered post, and the parts out so far (those in ``done``, then each one this publish
    sent), by index."""

    ref: DeliveryRef
    rendered: Rendered
    out: dict[int, RemotePart] = field(default_factory=dict)

    def parts(self) -> tuple[RemotePart, ...]:
        return tuple(self.out[i] for i in sorted(self.out))

    def remote_ids(self) -> dict[int, str]:
        """Each part's id by index: what ``payload.fill(parts=...)`` takes for replies."""
        return {i: p.remote_id for i, p in self.out.items()}


@dataclass
class _Attempt:
    """One part's attempt: has a request that creates what the public sees left for it?"""

    create_left: bool = False


_ATTEMPT: contextvars.ContextVar[_Attempt | None] = contextvars.ContextVar(
    "publisher_adapter_attempt", default=None
)


def create_leaving() -> None:
    """Note that a request creating what the public sees is about to leave for the part being
    published. ``HttpAdapter.send`` calls it for every ``Kind.CREATE`` request; a network
    whose requests go through a library (tweepy) calls it just before that call."""
    attempt = _ATTEMPT.get()
    if attempt is not None:
        attempt.create_left = True


# ---------------------------------------------------------------------------
# The adapter itself.


@dataclass
class AdapterContext:
    """What the engine lends an adapter: one shared HTTP session and the clock seam.

    ``timeout`` defaults to 60 s in all (10 s to connect, 30 s per read) when there is a
    session; without one (rendering only) it stays None and aiohttp is never imported.
    """

    session: aiohttp.ClientSession | None
    clock: Clock
    timeout: aiohttp.ClientTimeout | None = None
    # Waiting (media processing polls) goes through the clock seam, never asyncio.sleep.
    wait: Callable[[timedelta], Any] | None = None
    # The media roots in force (``build_adapters`` sets them from the config): a file is
    # read only from beneath one of them. None: each item's own root (a standalone adapter).
    media: MediaRoots | None = None
    # Where media is put for networks that fetch it from a public URL (``[media]`` in the
    # config); None: no host configured, and such networks refuse posts with media.
    host: MediaHost | None = None

    def __post_init__(self) -> None:
        if self.timeout is None and self.session is not None:
            import aiohttp

            self.timeout = aiohttp.ClientTimeout(total=60, sock_connect=10, sock_read=30)

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
    # What it can read of its posts' engagement (``read_engagement``); None: nothing.
    engagement: ClassVar[Engagement | None] = None
    # What it can hear of what people say to the account (``read_inbox``); None: nothing.
    listening: ClassVar[Listening | None] = None
    # For a network whose lookup cannot settle an unknown delivery (a Telegram bot reads no
    # chat history): what can and cannot be resolved, and what the operator should check.
    # ``lookup`` answers ``Unknowable`` saying it, and ``publisher status`` shows it beside
    # each unknown delivery of the account from the start. Empty: its lookup can settle one.
    lookup_limit: ClassVar[str] = ""
    # Whether the network fetches a post's media from a public URL (Instagram, Threads):
    # then it needs the ``[media]`` host (``AdapterContext.host``), and the config says so.
    fetches_media: ClassVar[bool] = False

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

    def build_comment(self, text: str, content: PostContent) -> Mapping[str, Any]:
        """The exact body of the post's first comment (``first_comment:``), for a network
        whose ``Capabilities.comments`` is set. Pure, like ``build_payload``; the post is
        "<part:0>" (``payload.part(0)``): a comment is on the post's first part.

        The default is a reply to self: the body of a thread's second part, which replies to
        part 0 (Mastodon, Bluesky, X). A network with a comments endpoint overrides it, and
        ``publish_comment`` with it."""
        return self.build_payload(text, (), 1, 2, content)

    async def publish(
        self, rendered: Rendered, ref: DeliveryRef, done: Sequence[RemotePart] = ()
    ) -> Published:
        """Send the parts not in ``done`` (a thread resumed after a partial failure).

        The template every network shares: parts already out are never sent again (all of
        them out: nothing is sent, nothing refused); a post with render errors is refused
        (``PermanentError``, ``Attention.CONTENT``), as is more than one part on a network
        without threads; each other part goes through ``publish_part``, in order, and any
        ``AdapterError`` leaves carrying the parts out so far.

        **An unexpected exception** (not an ``AdapterError``: a bug of the adapter's, since
        every failure of the network's is mapped at the boundary) meets one policy. Its
        traceback is logged, scrubbed. Then, if a request creating the current part had left
        (``create_leaving``), the part may exist: ``AmbiguousError``, which a lookup settles,
        for a resend could post it twice. Otherwise nothing of this part can be out and the
        bug will very likely recur on every retry, so ``PermanentError`` naming it an adapter
        bug: the delivery stops at once with a reason a human can act on, instead of spending
        its retries (as a transient error would) or sending the engine looking up a post that
        was never sent (as ambiguous would). The parts out before it are carried either way.
        """
        progress = Progress(ref, rendered, {p.index: p for p in done})
        todo = [part for part in rendered.parts if part.index not in progress.out]
        if not todo and progress.out:
            return Published(progress.parts())
        if rendered.errors:
            raise PermanentError(
                "cannot publish as written: " + "; ".join(rendered.errors),
                attention=Attention.CONTENT,
            )
        posts = len(rendered.post_parts)
        if posts > 1 and not self.capabilities().threads:
            raise PermanentError(
                f"a {self.network} post is one part, this one has {posts}",
                attention=Attention.CONTENT,
            )
        for part in todo:
            attempt = _Attempt()
            token = _ATTEMPT.set(attempt)
            try:
                if part.role is Role.COMMENT:
                    remote = await self.publish_comment(part, progress)
                else:
                    remote = await self.publish_part(part, progress)
            except AdapterError as err:
                raise err.with_partial(progress.parts()) from err.__cause__
            except Exception as err:
                raise self._adapter_bug(err, part, attempt, progress) from safe_cause(
                    err, self.scrub
                )
            finally:
                _ATTEMPT.reset(token)
            progress.out[part.index] = remote
        return Published(progress.parts())

    async def publish_part(self, part: RenderedPart, progress: Progress) -> RemotePart:
        """Publish one part (media, then the post) and say what it became on the network.

        ``progress`` holds the parts already out (a reply's parent among them). Every failure
        of the network's is raised as one of our errors; see ``publish`` for anything else.
        """
        raise NotImplementedError(
            f"the {self.network} adapter defines neither publish_part nor publish"
        )

    async def publish_comment(self, part: RenderedPart, progress: Progress) -> RemotePart:
        """Publish the post's first comment, once every part of the post is out (in
        ``progress``), and say what it became. The template calls it for the part whose role
        is ``Role.COMMENT``, so a comment that failed is sent again alone, the post never.

        The default publishes it as ``publish_part`` does: right for a network whose comment
        is a reply to self (Mastodon, Bluesky, X: ``build_comment`` names the post as its
        parent). A network with a comments endpoint (Facebook, LinkedIn) overrides it."""
        return await self.publish_part(part, progress)

    def _adapter_bug(
        self, err: Exception, part: RenderedPart, attempt: _Attempt, progress: Progress
    ) -> AdapterError:
        """The one policy for an unexpected exception; see ``publish``."""
        which = (
            "the first comment"
            if part.role is Role.COMMENT
            else f"part {part.index + 1}/{len(progress.rendered.parts)}"
        )
        logging.getLogger(f"publisher.network.{self.network}").error(
            "%s: adapter bug while publishing %s:\n%s",
            self.account,
            which,
            self.scrub("".join(traceback.format_exception(err))),
        )
        what = self.scrub(f"{type(err).__name__}: {err}")
        if attempt.create_left:
            return AmbiguousError(
                f"adapter bug after {which} was sent ({what}): it may be out; a lookup settles it",
                partial=progress.parts(),
            )
        return PermanentError(
            f"adapter bug while publishing {which}, nothing of it sent ({what})",
            partial=progress.parts(),
        )

    async def prepare(self) -> None:  # noqa: B027 - optional hook
        """Learn what render needs from the network (e.g. an instance's limits). Optional."""

    async def lookup(self, ref: DeliveryRef, rendered: Rendered, since: datetime) -> LookupResult:
        """Is this delivery already on the network? Used to resolve ``unknown`` deliveries."""
        return Unknowable(f"{self.network} has no lookup")

    async def read_engagement(self, remote_ids: Sequence[str]) -> Sequence[PostReading]:
        """The figures of these published posts (at most ``engagement.batch`` ids, each a
        delivery's first part), one reading per id asked, in any order. Failures are raised as
        ``TransientError``, ``RateLimitedError`` or ``PermanentError``; a read creates nothing,
        so never ``AmbiguousError``."""
        raise PermanentError(f"{self.network} reads no engagement")

    async def read_followers(self) -> int:
        """The account's follower count now; raised as ``read_engagement``."""
        raise PermanentError(f"{self.network} reads no follower count")

    async def read_inbox(self, cursor: str | None, own_posts: Sequence[OwnPost]) -> HeardPage:
        """What was said to the account since ``cursor`` (None: the first read ever: the
        newest page only, never the whole history), oldest or newest first as the network
        pages, at most a few pages per call (``more`` says another is waiting). A per-post
        network (``listening.per_post``) reads the comments on ``own_posts`` (the account's
        recent posts, newest first); another may use them to tell a quote of one of ours.
        Failures are raised as ``read_engagement``'s are."""
        raise PermanentError(f"{self.network} hears nothing")

    async def search(self, terms: Sequence[str], cursor: str | None) -> HeardPage:
        """Public posts matching any of ``terms`` (words, #hashtags, names) since ``cursor``,
        as ``ItemKind.FOUND`` items (``listening.search``); raised as ``read_inbox``."""
        raise PermanentError(f"{self.network} has no search")

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
            found = await asyncio.to_thread(open_media, item.file, self.context.media, limit=limit)
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

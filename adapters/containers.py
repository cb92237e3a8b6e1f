"""The container flow Instagram and Threads share: create a container, wait, publish it.

Neither network takes an upload. A post is a *container* made of fields and media URLs that
the network fetches itself at the time of the request (the engine's ``AdapterContext.host``
puts each file where it can be fetched; without one, a post with media is refused, at
render already). The network processes the container (``IN_PROGRESS``) until it is
``FINISHED``; a second request publishes it. A carousel is children containers (each with
``is_carousel_item``) and a ``CAROUSEL`` container naming them.

What each request means if its answer is lost (``Kind``): creating a container is an
``UPLOAD`` (nobody sees a container; one never published expires within a day), polling its
status a ``READ``, publishing it a ``CREATE``: a publish whose answer is lost may be out, and
is settled by ``lookup`` (the account's recent posts, matched by text), never resent.

**The publishing limit** (Instagram's 50 and Threads' 250 API-published posts in a rolling
24 hours) is declared (``declared_quota``, the documented figure, used when the network's
answer names none), counted (the network's own ``quota_usage``, read before each post) and
held like any rate limit: at the limit, ``RateLimitedError`` with the time the window frees,
which is when the oldest of the account's posts still inside it turns 24 hours old (from the
account's recent posts; the engine holds the account until then). The recent posts list
every post, published through the API or not, so that time may come early (the next check
holds again, a little later) but never late.

Polling waits go through ``AdapterContext.pause`` (the clock seam).
"""

from __future__ import annotations

import mimetypes
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any, ClassVar

from publisher.adapters import payload
from publisher.adapters.base import (
    AccountCheck,
    AdapterError,
    AmbiguousError,
    Attention,
    CheckStatus,
    MediaItem,
    PermanentError,
    PostContent,
    Problem,
    Progress,
    RateLimitedError,
    RemotePart,
    Rendered,
    RenderedPart,
    Subject,
    TransientError,
)
from publisher.adapters.graph import (
    LOOKUP_PAGES,
    GraphAdapter,
    Listing,
    graph_error,
    graph_time,
    next_params,
)
from publisher.adapters.transport import Answer, Kind
from publisher.durations import format_duration

CHILDREN = "children"  # the payload key of a carousel's children containers
QUOTA_WINDOW = timedelta(hours=24)
# When the window's end cannot be read (the recent posts could not be listed), ask again then.
QUOTA_RECHECK = timedelta(hours=1)
QUOTA_MIN_WAIT = timedelta(minutes=1)  # a window that frees "now" is checked again soon after
# Graph's code for a publish refused because the limit is spent (subcode 2207042).
PUBLISH_LIMIT_CODE = 9
# "The media is not ready for publishing, please wait": nothing was published.
NOT_READY_CODE = 9007


class ContainerStatus(StrEnum):
    FINISHED = "FINISHED"
    IN_PROGRESS = "IN_PROGRESS"
    ERROR = "ERROR"
    EXPIRED = "EXPIRED"
    PUBLISHED = "PUBLISHED"


@dataclass(frozen=True)
class Quota:
    """The account's publishing limit as the network counts it."""

    usage: int
    total: int
    window: timedelta

    @property
    def spent(self) -> bool:
        return self.usage >= self.total


class ContainerAdapter(GraphAdapter):
    """A Graph network that publishes through containers (see the module's docstring)."""

    create_edge: ClassVar[str]  # POST /{user}/{create_edge}: a container
    publish_edge: ClassVar[str]  # POST /{user}/{publish_edge}: creation_id
    status_field: ClassVar[str]  # the container's status field
    status_detail: ClassVar[str]  # the field saying why a container is ERROR
    limit_edge: ClassVar[str]  # GET /{user}/{limit_edge}: quota_usage, config
    declared_quota: ClassVar[int]  # the documented posts per 24 h
    listing_fields: ClassVar[tuple[str, str, str, str]]  # edge, text, time, link
    text_keys: ClassVar[frozenset[str]]  # the editor's words in a payload: no placeholders
    extra_rate_limit_codes = frozenset({PUBLISH_LIMIT_CODE})
    fetches_media = True
    poll_every: ClassVar[timedelta] = timedelta(seconds=30)
    _own_username: str | None = None  # ``own_username``, once read
    max_processing: ClassVar[timedelta] = timedelta(minutes=5)

    @property
    @abstractmethod
    def user_id(self) -> str:
        """The account's id on the network."""

    @abstractmethod
    def post_url(self, remote_id: str) -> str | None:
        """A published post's address when the network gave no permalink."""

    # ------------------------------------------------------------------ render

    def render(self, content: PostContent) -> Rendered:
        """The shared render, refusing media nobody can fetch: in a context that sends (it
        has an HTTP session) and has no media host, no ``[media]`` host is configured. A
        context that only renders (``validate``, ``dry-run``) is given no host either way, so
        there the refusal waits for the send (``publish_part``)."""
        rendered = super().render(content)
        if content.media and self.context.session is not None and self.context.host is None:
            problem = Problem(
                f"{self.network} fetches media from a public URL: configure a media host "
                "([media] in publisher.toml) to publish posts with media",
                Subject.MEDIA,
                0,
            )
            return rendered.with_problems(errors=[problem])
        return rendered

    @staticmethod
    def carousel_total(content: PostContent, most: int, network: str) -> list[Problem]:
        """A carousel counts images and videos together."""
        if len(content.media) <= most:
            return []
        message = f"{len(content.media)} media items, a {network} carousel takes at most {most}"
        return [Problem(message, Subject.MEDIA, most)]

    def classify(self, answer: Answer, kind: Kind) -> AdapterError:
        err = super().classify(answer, kind)
        if graph_error(answer).code == NOT_READY_CODE and not isinstance(err, RateLimitedError):
            return TransientError(err.reason, status=answer.status)
        return err

    # ------------------------------------------------------------------ publish_part

    async def publish_part(self, part: RenderedPart, progress: Progress) -> RemotePart:
        """Check the limit (a post's first part), create the containers, wait, publish."""
        if part.media and self.context.host is None:
            raise PermanentError(
                f"{self.network} fetches media from a public URL and no media host is "
                "configured ([media] in publisher.toml)",
                attention=Attention.CONTENT,
            )
        if part.index == 0 and "reply_to_id" not in part.payload:
            await self.ensure_quota()  # an answer is a reply: the replies' own, larger limit
        urls = await self.media_urls(part.media)
        body = payload.fill(
            part.payload, media=urls, parts=progress.remote_ids(), text=self.text_keys
        )
        number = f"part {part.index + 1}"
        children = body.pop(CHILDREN, None)
        if isinstance(children, list):
            ids = []
            for i, child in enumerate(children):
                what = f"{number}: carousel item {i + 1}/{len(children)}"
                child_id = await self.create_container(child, what)
                await self.wait_ready(child_id, what)
                ids.append(child_id)
            body[CHILDREN] = ids
        container = await self.create_container(body, f"{number}: container")
        await self.wait_ready(container, f"{number}: container")
        remote_id = await self.publish_container(container, f"{number}: publish")
        url = await self.permalink(remote_id)
        return RemotePart(part.index, remote_id, url, {"container_id": container})

    async def media_urls(self, media: Sequence[MediaItem]) -> list[str]:
        """Each file's public URL, from the media host (files read as checked)."""
        host = self.context.host
        if not media or host is None:  # publish_part refused media without a host
            return []
        urls = []
        for item in media:
            found = await self.read_media(item)
            urls.append(await host.public_url(found, suffix=_suffix(item, found.mime_type)))
        return urls

    async def create_container(self, body: Mapping[str, Any], what: str) -> str:
        doc = await self.graph(
            "POST", f"{self.user_id}/{self.create_edge}", Kind.UPLOAD, what, json=dict(body)
        )
        container = doc.get("id")
        if not isinstance(container, str) or not container:
            raise TransientError(f"{what}: the network answered without a container id")
        return container

    async def wait_ready(self, container: str, what: str) -> None:
        """Poll the container until it is FINISHED, pausing ``poll_every`` in between, for
        at most ``max_processing``; a container that failed or expired is our error."""
        waited = timedelta(0)
        fields = f"{self.status_field},{self.status_detail}"
        while True:
            doc = await self.graph(
                "GET", container, Kind.READ, f"{what} status", params={"fields": fields}
            )
            raw = doc.get(self.status_field)
            detail = doc.get(self.status_detail)
            why = f" ({detail})" if isinstance(detail, str) and detail else ""
            if raw == ContainerStatus.FINISHED:
                return
            if raw == ContainerStatus.ERROR:
                raise PermanentError(
                    self.scrub(f"{what}: the network could not process it{why}"),
                    attention=Attention.CONTENT,
                )
            if raw == ContainerStatus.EXPIRED:
                raise TransientError(
                    f"{what}: expired before it was published; a retry makes a new one"
                )
            if raw == ContainerStatus.PUBLISHED:
                raise AmbiguousError(f"{what}: already published; a lookup settles it")
            if raw != ContainerStatus.IN_PROGRESS:
                raise TransientError(f"{what}: unexpected status {str(raw)[:40]!r}")
            if waited >= self.max_processing:
                raise TransientError(
                    f"{what}: still processing after {format_duration(waited)}; a retry makes "
                    "a new one"
                )
            await self.context.pause(self.poll_every)
            waited += self.poll_every

    async def publish_container(self, container: str, what: str) -> str:
        path = f"{self.user_id}/{self.publish_edge}"
        doc = await self.graph("POST", path, Kind.CREATE, what, json={"creation_id": container})
        remote_id = doc.get("id")
        if not isinstance(remote_id, str) or not remote_id:
            raise AmbiguousError(f"{what}: the network answered 200 without an id")
        return remote_id

    async def permalink(self, remote_id: str) -> str | None:
        """The published post's address; best effort, for the post is out whatever this
        read says (an error here must not send it again)."""
        try:
            doc = await self.graph(
                "GET", remote_id, Kind.READ, "permalink", params={"fields": "permalink"}
            )
        except AdapterError:
            return self.post_url(remote_id)
        link = doc.get("permalink")
        return link if isinstance(link, str) and link else self.post_url(remote_id)

    # ------------------------------------------------------------------ the publishing limit

    async def quota(self) -> Quota:
        """The network's count of the account's posts in its rolling window."""
        what = "publishing limit"
        doc = await self.graph(
            "GET",
            f"{self.user_id}/{self.limit_edge}",
            Kind.READ,
            what,
            params={"fields": "quota_usage,config"},
        )
        data = doc.get("data")
        entry = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        usage = entry.get("quota_usage")
        if not isinstance(usage, int) or isinstance(usage, bool):
            raise TransientError(f"{what}: the network answered without quota_usage")
        config = entry.get("config")
        config = config if isinstance(config, dict) else {}
        total = config.get("quota_total")
        duration = config.get("quota_duration")
        return Quota(
            usage,
            total if isinstance(total, int) and total > 0 else self.declared_quota,
            timedelta(seconds=duration)
            if isinstance(duration, int) and duration > 0
            else QUOTA_WINDOW,
        )

    async def ensure_quota(self) -> None:
        """Hold (``RateLimitedError``) when the limit is spent, until the window frees."""
        quota = await self.quota()
        if not quota.spent:
            return
        now = self.context.clock.now()
        frees = await self.window_frees(quota, now)
        reason = (
            f"publishing limit reached: {quota.usage} of {quota.total} posts in "
            f"{format_duration(quota.window)}"
        )
        if frees is None:
            raise RateLimitedError(f"{reason}; checking again later", retry_after=QUOTA_RECHECK)
        raise RateLimitedError(
            f"{reason}; the window frees at {frees:%Y-%m-%d %H:%M:%S}Z", reset_at=frees
        )

    async def window_frees(self, quota: Quota, now: datetime) -> datetime | None:
        """When enough of the posts inside the window leave it for one more to go; None
        when the account's recent posts cannot say."""
        edge, _, time_field, _ = self.listing_fields
        params: dict[str, str] = {
            "fields": f"id,{time_field}",
            "since": str(int((now - quota.window).timestamp())),
            "limit": "100",
        }
        times: list[datetime] = []
        # Every post inside the window is read (a page holds 25 or more), or nothing is known.
        pages = max(LOOKUP_PAGES, quota.usage // 25 + 2)
        try:
            for _ in range(pages):
                doc = await self.graph(
                    "GET",
                    f"{self.user_id}/{edge}",
                    Kind.READ,
                    "publishing limit: recent posts",
                    params=params,
                )
                data = doc.get("data")
                if not isinstance(data, list):
                    return None
                for post in data:
                    when = graph_time(post.get(time_field)) if isinstance(post, dict) else None
                    if when is not None and now - quota.window < when <= now:
                        times.append(when)
                following = next_params(doc.get("paging"))
                if following is None:
                    break
                params = {**params, **following}
            else:
                return None
        except AdapterError:
            return None
        times.sort()
        leaving = quota.usage - quota.total  # this many and one more must leave the window
        if leaving >= len(times):
            return None
        return max(times[leaving] + quota.window, now + QUOTA_MIN_WAIT)

    # ------------------------------------------------------------------ lookup and check

    def listing(self) -> Listing:
        edge, text, time, link = self.listing_fields
        return Listing(f"{self.user_id}/{edge}", text, time, link)

    async def own_username(self, path: str) -> str:
        """The account's username (``GET /{path}?fields=username``), read once: how its own
        comments and replies are told apart from what it hears."""
        if self._own_username is None:
            doc = await self.graph("GET", path, Kind.READ, "account", params={"fields": "username"})
            name = doc.get("username")
            if not isinstance(name, str) or not name:
                raise TransientError("account: the network answered without its username")
            self._own_username = name
        return self._own_username

    async def identity(self, path: str, fields: str) -> AccountCheck:
        """``check()``: who the token speaks for, and how much of the limit is spent."""
        try:
            doc = await self.graph("GET", path, Kind.READ, "check", params={"fields": fields})
            quota = await self.quota()
        except AdapterError as err:
            return AccountCheck(CheckStatus.ATTENTION, detail=err.reason)
        name = doc.get("username")
        if not isinstance(name, str):
            detail = "check: the network answered without the account's username"
            return AccountCheck(CheckStatus.ATTENTION, detail=detail)
        detail = (
            f"{quota.usage} of {quota.total} posts published in the rolling "
            f"{format_duration(quota.window)} window"
        )
        return AccountCheck(CheckStatus.OK, identity=f"@{name} ({self.user_id})", detail=detail)


def _suffix(item: MediaItem, mime_type: str) -> str:
    """The extension the hosted file is named with: the editor's, else the type's."""
    ext = PurePosixPath(item.filename).suffix.lower()
    if ext:
        return ext
    return mimetypes.guess_extension(mime_type) or ""

"""Threads through its Graph API (graph.threads.net), documented at
developers.facebook.com/docs/threads/posts and .../threads/reference/publishing.

A post is a container published in a second step (``publisher.adapters.containers``, shared
with Instagram): ``POST /{user-id}/threads`` with ``media_type`` ``TEXT``, ``IMAGE``,
``VIDEO`` or ``CAROUSEL`` (2 to 20 children, each created with ``is_carousel_item``) and
``text``; ``GET /{container-id}?fields=status,error_message`` until ``FINISHED``; then
``POST /{user-id}/threads_publish`` with ``creation_id``. A long post becomes a reply chain:
each further part is a ``TEXT`` container with ``reply_to_id``, the part before it.

**Length.** A post is at most 500 characters, and the documentation says how emoji count:
"emojis are counted as the number of UTF-8 bytes". The rule implemented (``threads_length``):
every character counts one, except that a grapheme cluster holding an emoji (an extended
pictographic character, a regional-indicator flag or a keycap) counts the UTF-8 bytes of the
whole cluster: ``❄️`` (U+2744 U+FE0F) counts 6, ``😀`` 4, ``👍🏽`` 8, ``é`` 1.

**Links.** At most 5 distinct URLs in a post's text: since 22 December 2025 Threads refuses
more (``THREADS_API__LINK_LIMIT_EXCEEDED``); a render error here.

**First comment.** A reply to the post itself (``reply_to_id``: the post's first part), built
like a thread's second part (``Adapter.build_comment``'s default) and published as any reply;
at most 500 characters counted as a post is.

The account may publish 250 posts through the API in a rolling 24 hours
(``threads_publishing_limit``; held, never failed, see the containers module). Replies have
their own, larger limit (1,000), so only a post's first part is checked.

An unknown outcome is settled by the user's recent threads matched by text, then the chain
part by part among the user's replies (``GET /{user-id}/replies``, ``replied_to``), and the
first comment among the replies to the post. Replies that cannot be read make the outcome
unknowable, never a resend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import regex

from publisher.adapters import payload
from publisher.adapters.base import (
    Absent,
    AccountCheck,
    AccountSettings,
    AdapterError,
    Capabilities,
    Comments,
    DeliveryRef,
    Found,
    Heard,
    ItemKind,
    LengthRule,
    Listening,
    LookupResult,
    MediaItem,
    MediaLimits,
    OwnPost,
    PostContent,
    Problem,
    Published,
    RemotePart,
    Rendered,
    Role,
    Subject,
    TransientError,
    Unknowable,
)
from publisher.adapters.containers import CHILDREN, ContainerAdapter
from publisher.adapters.graph import LOOKUP_PAGES, LOOKUP_SLACK, next_params, normalize
from publisher.adapters.graph_listen import Edge, GraphListening, item_time
from publisher.adapters.transport import Kind
from publisher.secrets import Secret
from publisher.text import extract_urls

MAX_LENGTH = 500
MAX_LINKS = 5
MAX_CAROUSEL = 20
MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_VIDEO_BYTES = 1024 * 1024 * 1024
IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime"})
MAX_ALT_TEXT = 1_000
TEXT_KEYS = frozenset({"text", "alt_text"})  # the editor's words: no placeholders

# Listening: every reply under a post at any depth, newest first, and the mentions.
HEAR_FIELDS = "id,text,username,permalink,timestamp,replied_to,root_post"
CONVERSATION: Mapping[str, str] = {"fields": HEAR_FIELDS, "reverse": "true"}
MENTIONS: Mapping[str, str] = {"fields": HEAR_FIELDS, "limit": "50"}
MENTIONS_KEY = "mentions"

_CLUSTER = regex.compile(r"\X")
_EMOJI = regex.compile(r"[\p{Extended_Pictographic}\U0001F1E6-\U0001F1FF\u20E3]")


def threads_length(text: str) -> int:
    """Characters, an emoji's cluster counting its UTF-8 bytes (see the module's docstring)."""
    if text.isascii():
        return len(text)
    total = 0
    for cluster in _CLUSTER.findall(text):
        total += len(cluster.encode("utf-8")) if _EMOJI.search(cluster) else len(cluster)
    return total


@dataclass(frozen=True)
class _Reply:
    parent: str  # the id it replies to
    id: str
    text: str  # normalized
    permalink: str | None


class ThreadsSettings(AccountSettings):
    user_id: str
    token: Secret
    api_base: str = "https://graph.threads.net"
    api_version: str = "v1.0"
    client_id: str | None = None  # the Meta app's ID and secret: `accounts connect` only
    client_secret: Secret | None = None


class ThreadsAdapter(GraphListening, ContainerAdapter):
    network = "threads"
    Settings = ThreadsSettings
    listening = Listening(
        kinds=(ItemKind.REPLY, ItemKind.MENTION),
        per_post=True,
        limits=(
            "hears the replies at any depth under the account's recent posts and the "
            "posts that mention it (threads_manage_mentions: until Meta grants advanced "
            "access, only the app's testers' mentions); not quotes, not private profiles; "
            "an answer is a reply"
        ),
    )

    create_edge = "threads"
    publish_edge = "threads_publish"
    status_field = "status"
    status_detail = "error_message"
    limit_edge = "threads_publishing_limit"
    declared_quota = 250
    listing_fields = ("threads", "text", "timestamp", "permalink")
    text_keys = TEXT_KEYS

    @property
    def _settings(self) -> ThreadsSettings:
        assert isinstance(self.settings, ThreadsSettings)
        return self.settings

    @property
    def user_id(self) -> str:
        return self._settings.user_id

    def graph_root(self) -> str:
        return f"{self._settings.api_base.rstrip('/')}/{self._settings.api_version}"

    def graph_token(self) -> Secret:
        return self._settings.token

    def post_url(self, remote_id: str) -> str | None:
        return None  # Threads' addresses use the username and a shortcode

    # ------------------------------------------------------------------ capabilities

    def capabilities(self) -> Capabilities:
        return Capabilities(
            network="threads",
            length=LengthRule(threads_length, MAX_LENGTH),
            media=MediaLimits(
                max_images=MAX_CAROUSEL,
                max_videos=MAX_CAROUSEL,
                max_image_bytes=MAX_IMAGE_BYTES,
                max_video_bytes=MAX_VIDEO_BYTES,
                image_types=IMAGE_TYPES,
                video_types=VIDEO_TYPES,
                alt_text_max=MAX_ALT_TEXT,
                mix_images_and_video=True,
            ),
            threads=True,
            # The first comment is a reply to the post: a post's rule.
            comments=Comments(LengthRule(threads_length, MAX_LENGTH)),
        )

    # ------------------------------------------------------------------ render and payloads

    def render(self, content: PostContent) -> Rendered:
        """The shared render, plus the carousel's size and the links of each part."""
        rendered = super().render(content)
        errors = self.carousel_total(content, MAX_CAROUSEL, "Threads")
        posts = len(rendered.post_parts)
        for part in rendered.parts:
            links = {u.url for u in extract_urls(part.text)}
            if len(links) > MAX_LINKS:
                if part.role is Role.COMMENT:
                    where = "the first comment: "
                else:
                    where = f"part {part.index + 1}: " if posts > 1 else ""
                message = f"{where}{len(links)} links, Threads takes at most {MAX_LINKS} a post"
                errors.append(Problem(message, Subject.TEXT))
        return rendered.with_problems(errors=errors)

    def build_payload(
        self, text: str, media: Sequence[MediaItem], index: int, total: int, content: PostContent
    ) -> Mapping[str, Any]:
        """The container's body: text, one image or video, or a carousel of children."""
        body: dict[str, Any]
        if not media:
            body = {"media_type": "TEXT"}
        elif len(media) == 1:
            body = _item(media[0], 0, carousel=False)
        else:
            body = {
                "media_type": "CAROUSEL",
                CHILDREN: [_item(m, i, carousel=True) for i, m in enumerate(media)],
            }
        if text:
            body["text"] = text
        if index:
            body["reply_to_id"] = payload.part(index - 1)
        elif content.reply_to is not None:  # an answer: the thread's first part replies
            body["reply_to_id"] = content.reply_to.remote_id
        return body

    # ------------------------------------------------------------------ lookup and check

    async def lookup(self, ref: DeliveryRef, rendered: Rendered, since: datetime) -> LookupResult:
        """The first part among the user's threads, then each reply after it: a thread part
        replies to the part before it, the first comment to the post."""
        if not rendered.parts:
            return Unknowable("nothing was rendered")
        target = rendered.parts[0].payload.get("reply_to_id")
        replies: list[_Reply] | None = None
        if isinstance(target, str):  # an answer: its first part among the replies
            try:
                replies = await self._replies(since)
            except AdapterError as err:
                return Unknowable(f"lookup of the replies failed: {err.reason}")
            wanted = normalize(rendered.parts[0].text)
            head = next((r for r in replies if r.parent == target and r.text == wanted), None)
            if head is None:
                return Absent()
            first: LookupResult = Found(Published((RemotePart(0, head.id, head.permalink),)))
        else:
            first = await self.find_by_text(
                self.listing(), rendered.parts[0].text, since, self.post_url
            )
        if not isinstance(first, Found) or len(rendered.parts) == 1:
            return first
        try:
            replies = replies if replies is not None else await self._replies(since)
        except AdapterError as err:
            return Unknowable(f"lookup of the replies failed: {err.reason}")
        chain = [first.published.parts[0]]
        for part in rendered.parts[1:]:
            parent = chain[0 if part.role is Role.COMMENT else -1].remote_id
            wanted = normalize(part.text)
            match = next((r for r in replies if r.parent == parent and r.text == wanted), None)
            if match is None:
                break  # the rest is not out: the engine sends it, and only it
            chain.append(RemotePart(part.index, match.id, match.permalink))
        return Found(Published(tuple(chain)))

    async def _replies(self, since: datetime) -> list[_Reply]:
        """The user's replies since ``since``; an answer that cannot be read whole is an
        error (a reply missing from a partial read would be sent twice)."""
        params: dict[str, str] = {
            "since": str(int((since - LOOKUP_SLACK).timestamp())),
            "fields": "id,text,timestamp,permalink,replied_to",
            "limit": "100",
        }
        out: list[_Reply] = []
        for _ in range(LOOKUP_PAGES):
            doc = await self.graph(
                "GET", f"{self.user_id}/replies", Kind.READ, "lookup: replies", params=params
            )
            data = doc.get("data")
            if not isinstance(data, list):
                raise TransientError("lookup: the replies came without a data list")
            for reply in data:
                if not isinstance(reply, dict) or not isinstance(reply.get("id"), str):
                    continue
                parent = reply.get("replied_to")
                parent_id = parent.get("id") if isinstance(parent, dict) else None
                text = reply.get("text")
                if isinstance(parent_id, str) and isinstance(text, str):
                    link = reply.get("permalink")
                    url = link if isinstance(link, str) else None
                    out.append(_Reply(parent_id, reply["id"], normalize(text), url))
            following = next_params(doc.get("paging"))
            if following is None:
                return out
            params = {**params, **following}
        raise TransientError(f"lookup: more than {LOOKUP_PAGES} pages of replies to read")

    async def check(self) -> AccountCheck:
        return await self.identity("me", "id,username")

    # ------------------------------------------------------------------ listening

    def listen_edges(self, own_posts: Sequence[OwnPost]) -> list[Edge]:
        mentions = Edge(MENTIONS_KEY, f"{self.user_id}/mentions", MENTIONS, ItemKind.MENTION)
        return [
            mentions,
            *(
                Edge(
                    p.remote_id,
                    f"{p.remote_id}/conversation",
                    CONVERSATION,
                    ItemKind.REPLY,
                    p.remote_id,
                    p.published_at,
                )
                for p in own_posts
            ),
        ]

    async def heard(self, item: Mapping[str, Any], edge: Edge) -> list[Heard]:
        """A reply under our post or a mention, but the account's own (its replies in the
        conversation); an answer replies to it by its id."""
        name = item.get("username")
        if not isinstance(name, str) or name == await self.own_username("me"):
            return []
        text = item.get("text")
        link = item.get("permalink")
        return [
            Heard(
                remote_id=str(item["id"]),
                kind=edge.kind,
                author=f"@{name}",
                text=text if isinstance(text, str) else "",
                url=link if isinstance(link, str) else "",
                created_at=item_time(item) or self.context.clock.now(),
                answers=edge.answers,
            )
        ]


def _item(item: MediaItem, index: int, *, carousel: bool) -> dict[str, Any]:
    """One image or video container (a carousel's child, or the post itself)."""
    if item.kind == "image":
        body: dict[str, Any] = {"media_type": "IMAGE", "image_url": payload.media(index)}
    else:
        body = {"media_type": "VIDEO", "video_url": payload.media(index)}
    if item.alt:
        body["alt_text"] = item.alt
    if carousel:
        body["is_carousel_item"] = True
    return body

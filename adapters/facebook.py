"""Facebook Pages through the Graph API, with aiohttp directly.

Not facebook-sdk: its last release (3.1.0, 2018) rejects every Graph API version still
served today and is synchronous, so it would block the daemon's event loop.

Graph has no idempotency key. A feed post (or a published photo) whose answer is lost is
therefore ambiguous (``Kind.CREATE``) and is resolved by ``lookup`` (the page's posts, matched
by message), never by sending again. Photos of a multi-photo post are first uploaded
unpublished (``Kind.UPLOAD``): nothing is visible until the feed post that attaches them, so
their failures are plain transient.

Graph's ``error.code`` decides what a refusal means (``classify``); the HTTP status only where
there is no code, through the shared default.

Engagement reads: the posts' reactions (every kind counts as a like), comments and shares,
50 posts a call (``GET /?ids=…&fields=…``, Graph's multi-id read); Graph refuses the whole
call when one of them is gone (error 803), then each is read alone and a gone one (100/33,
404) is marked so. Impressions and clicks come from ``/{post-id}/insights``, whose metric
names Meta renames (``INSIGHTS``, overridable per account with ``insights``): where the token
may not read insights, or a name was retired, those figures are unavailable, not a failure.

The page token travels only in the ``Authorization`` header, never in a payload (dry-run
prints payloads) nor in a request URL, except ``input_token`` of ``debug_token`` in
``check()``, which Graph takes nowhere else; every error text is scrubbed of it anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from publisher.adapters import payload
from publisher.adapters.apiversions import graph_end_of_life, version_warning
from publisher.adapters.base import (
    Absent,
    AccountCheck,
    AccountSettings,
    AdapterError,
    AmbiguousError,
    Capabilities,
    CheckStatus,
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
    Progress,
    Published,
    RemotePart,
    Rendered,
    RenderedPart,
    Subject,
    TransientError,
    Unknowable,
)
from publisher.adapters.engagement import (
    CLICKS,
    IMPRESSIONS,
    LIKES,
    REPLIES,
    REPOSTS,
    Engagement,
    PostGone,
    PostReading,
    counted,
    numbers_from,
)
from publisher.adapters.graph import (
    CommentListing,
    Listing,
    graph_error,
    names_missing,
)
from publisher.adapters.graph import usage_retry_after as usage_retry_after
from publisher.adapters.graph_listen import (
    ANSWER_ON,
    Edge,
    GraphListening,
    answer_on,
    answer_problems,
    item_time,
)
from publisher.adapters.transport import (
    Kind,
)
from publisher.secrets import Secret
from publisher.text import code_points

if TYPE_CHECKING:  # aiohttp loads with the first request: rendering needs none
    import aiohttp

log = logging.getLogger("publisher.network.facebook")

MAX_LENGTH = 63_206  # Graph's limit on a post's message, in characters
MAX_COMMENT_LENGTH = 8_000  # a comment's message, in characters
MAX_PHOTOS = 10
MAX_PHOTO_BYTES = 4 * 1024 * 1024
# Graph's documented photo formats. GIF is left out: the shared layer counts GIFs as
# video, and Graph would flatten an animated GIF to a still photo anyway.
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/bmp", "image/tiff"})
TEXT_KEYS = frozenset({"message", "caption", "link"})  # the editor's words: no placeholders
COMMENT_TEXT_KEYS = frozenset({"message"})
# The page's top-level comments on a post, for a lookup of its first comment.
COMMENTS = CommentListing(
    {"fields": "id,message,from", "filter": "toplevel", "limit": "100"}, "message"
)

# Engagement reads. A post's own counts, each summary without its list (limit 0).
READ_BATCH = 50  # Graph reads up to 50 ids in one ``?ids=`` call
POST_FIELDS = (
    "reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0),shares"
)
# Our name: the post's own count (``_post_counts``); reactions of every kind are likes.
POST_COUNTS: Mapping[str, str] = {LIKES: "reactions", REPOSTS: "shares", REPLIES: "comments"}
FIGURES = (LIKES, REPOSTS, REPLIES, IMPRESSIONS, CLICKS)
INSIGHT_FIGURES = (IMPRESSIONS, CLICKS)  # what insights may give (the rest: the post's own)
# Page post insights, Graph's metric name: our figure. Meta retires names for every Graph
# version at once (post_impressions gave way to post_media_view, "views", on 15 November
# 2025: developers.facebook.com/docs/platforminsights/page/deprecated-metrics), so this is
# data, and an account may set its own table (``insights``).
INSIGHTS: Mapping[str, str] = {"post_media_view": IMPRESSIONS, "post_clicks": CLICKS}
INSIGHT_REFUSED = frozenset({10, *range(200, 300), 100})  # no permission; no such metric

# Listening: every comment on a post, replies included (``filter=stream``), newest first
# (developers.facebook.com/docs/graph-api/reference/object/comments).
HEAR_FIELDS = "id,message,from,created_time,permalink_url,parent"
HEAR_PARAMS: Mapping[str, str] = {
    "fields": HEAR_FIELDS,
    "filter": "stream",
    "order": "reverse_chronological",
    "limit": "50",
}
# The replies to a comment, for the lookup of an answer.
COMMENT_REPLIES = CommentListing({"fields": "id,message,from", "limit": "100"}, "message")


class FacebookSettings(AccountSettings):
    page_id: str
    page_token: Secret
    api_base: str = "https://graph.facebook.com"
    # Served until 2027-10-08 (``apiversions.GRAPH_END_OF_LIFE``); `accounts check` warns a
    # month before the configured version's published end of life.
    api_version: str = "v23.0"
    client_id: str | None = None  # the Meta app's ID and secret: `accounts connect` only
    client_secret: Secret | None = None
    # Insights metric name: our figure (``INSIGHTS``); {} reads no insights.
    insights: dict[str, str] = Field(default_factory=lambda: dict(INSIGHTS))

    @field_validator("insights")
    @classmethod
    def _our_figures(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value.values()) - set(INSIGHT_FIGURES))
        if unknown:
            raise ValueError(
                f"insights map Graph metrics to {', '.join(INSIGHT_FIGURES)}; not {unknown}"
            )
        return value


class FacebookAdapter(GraphListening):
    network = "facebook"
    Settings = FacebookSettings
    listening = Listening(
        kinds=(ItemKind.COMMENT,),
        per_post=True,
        limits=(
            "hears the comments (and replies to them) on the page's recent posts, not "
            "mentions of the page elsewhere; Graph gives a commenter's name, not a handle; "
            "an answer is a comment (a reply in the comment's thread), text only"
        ),
    )
    engagement = Engagement(
        metrics=FIGURES,
        batch=READ_BATCH,
        limits=(
            "likes are reactions of every kind; impressions (Meta's views) and clicks come "
            "from page insights: only with a token allowed to read them (pages_read_engagement"
            ", read_insights) and for pages with 100 likes or more"
        ),
    )

    @property
    def _settings(self) -> FacebookSettings:
        assert isinstance(self.settings, FacebookSettings)
        return self.settings

    def graph_root(self) -> str:
        return f"{self._settings.api_base.rstrip('/')}/{self._settings.api_version}"

    def graph_token(self) -> Secret:
        return self._settings.page_token

    # ------------------------------------------------------------------ capabilities

    def capabilities(self) -> Capabilities:
        return Capabilities(
            network="facebook",
            length=LengthRule(code_points, MAX_LENGTH),
            media=MediaLimits(
                max_images=MAX_PHOTOS,
                max_videos=0,
                max_image_bytes=MAX_PHOTO_BYTES,
                image_types=PHOTO_TYPES,
                alt_text_max=0,  # the publish API has no alt-text field
            ),
            threads=False,
            link_cards=True,
            comments=Comments(LengthRule(code_points, MAX_COMMENT_LENGTH)),
        )

    # ------------------------------------------------------------------ render and payloads

    def render(self, content: PostContent) -> Rendered:
        """The shared render, plus what Graph does with an editor's link card."""
        rendered = super().render(content)
        if content.reply_to is not None:
            errors = answer_problems(content, "Facebook")
            longest = max((p.length for p in rendered.parts), default=0)
            if longest > MAX_COMMENT_LENGTH:
                message = (
                    f"an answer is a comment: {longest} characters, Facebook takes at most "
                    f"{MAX_COMMENT_LENGTH}"
                )
                errors.append(Problem(message, Subject.TEXT))
            return rendered.with_problems(errors=errors)
        link = content.link
        if link is None:
            return rendered
        notes: list[Problem] = []
        if content.media:
            missing = "" if link.url in content.text else f"; {link.url} is not in the text"
            notes.append(
                Problem(
                    "link card dropped: a Facebook post with photos shows the photos, "
                    f"not a link preview{missing}",
                    Subject.LINK,
                )
            )
        elif link.title or link.description or link.thumb is not None:
            notes.append(
                Problem(
                    "Facebook builds the link preview from the page itself; the card's "
                    "title, description and thumbnail are not sent",
                    Subject.LINK,
                )
            )
        return rendered.with_problems(warnings=notes)

    def build_payload(
        self, text: str, media: Sequence[MediaItem], index: int, total: int, content: PostContent
    ) -> Mapping[str, Any]:
        """One photo: the ``/photos`` body; several: the ``/feed`` body attaching them; an
        answer (``reply_to:``): the body of a comment on the item (``answer_on``)."""
        target = content.reply_to
        if target is not None and index == 0:
            return {"message": text, ANSWER_ON: answer_on(target.refs, target.remote_id)}
        if len(media) == 1:
            photo: dict[str, Any] = {"source": payload.media(0)}
            if text:
                photo["caption"] = text
            return photo
        body: dict[str, Any] = {}
        if text:
            body["message"] = text
        if media:
            body["attached_media"] = [{"media_fbid": payload.media(i)} for i in range(len(media))]
        elif content.link is not None:
            body["link"] = content.link.url
        return body

    def build_comment(self, text: str, content: PostContent) -> Mapping[str, Any]:
        """The body of ``POST /{post-id}/comments``: the page comments on its own post."""
        return {"message": text}

    # ------------------------------------------------------------------ publish_part

    async def publish_part(self, part: RenderedPart, progress: Progress) -> RemotePart:
        """A single photo is published by ``/photos`` itself; anything else by ``/feed``."""
        if ANSWER_ON in part.payload:
            remote = await self._publish_answer(part)
        elif "source" in part.payload:
            remote = await self._publish_photo(part)
        else:
            remote = await self._publish_feed(part)
        log.debug("%s: published %s", self.account, remote.url)
        return remote

    async def publish_comment(self, part: RenderedPart, progress: Progress) -> RemotePart:
        """The first comment on the post (part 0): ``POST /{post-id}/comments``. No
        idempotency key: a lost answer is ambiguous, settled by ``lookup``."""
        post = progress.out[0]
        body = payload.fill(part.payload, text=COMMENT_TEXT_KEYS)
        return RemotePart(part.index, await self.post_comment(post, body), post.url)

    async def _publish_answer(self, part: RenderedPart) -> RemotePart:
        """``POST /{object-id}/comments`` on the item answered (or its thread's top comment).
        No idempotency key: a lost answer is ambiguous, settled by ``lookup``."""
        body = payload.fill(part.payload, text=COMMENT_TEXT_KEYS)
        on = str(body.pop(ANSWER_ON))
        doc = await self.graph("POST", f"{on}/comments", Kind.CREATE, "answer", json=body)
        comment_id = doc.get("id")
        if not isinstance(comment_id, str) or not comment_id:
            raise AmbiguousError("answer: Graph answered 200 without an id")
        return RemotePart(part.index, comment_id, None, {ANSWER_ON: on})

    async def _publish_photo(self, part: RenderedPart) -> RemotePart:
        form = await self._form(part.payload, part.media)
        path = f"{self._settings.page_id}/photos"
        doc = await self.graph("POST", path, Kind.CREATE, "photo post", data=form)
        photo_id = doc.get("id")
        post_id = doc.get("post_id") or photo_id
        if not isinstance(post_id, str) or not post_id:
            raise AmbiguousError("photo post: Graph answered 200 without an id")
        extra = {"photo_id": photo_id} if isinstance(photo_id, str) else {}
        return RemotePart(part.index, post_id, post_url(post_id), extra)

    async def _publish_feed(self, part: RenderedPart) -> RemotePart:
        page = self._settings.page_id
        ids: list[str] = []
        for i in range(len(part.media)):
            what = f"photo {i + 1}/{len(part.media)} upload (unpublished)"
            form = await self._form({"source": payload.media(i), "published": False}, part.media)
            doc = await self.graph("POST", f"{page}/photos", Kind.UPLOAD, what, data=form)
            fbid = doc.get("id")
            if not isinstance(fbid, str) or not fbid:
                raise TransientError(f"{what}: Graph answered 200 without an id")
            ids.append(fbid)
        body = payload.fill(part.payload, media=ids, text=TEXT_KEYS)
        doc = await self.graph("POST", f"{page}/feed", Kind.CREATE, "feed post", json=body)
        post_id = doc.get("id")
        if not isinstance(post_id, str) or not post_id:
            raise AmbiguousError("feed post: Graph answered 200 without an id")
        extra = {"photo_ids": tuple(ids)} if ids else {}
        return RemotePart(part.index, post_id, post_url(post_id), extra)

    async def _form(
        self, fields: Mapping[str, Any], media: Sequence[MediaItem]
    ) -> aiohttp.FormData:
        """A multipart body; a "<media:N>" value becomes that file's bytes."""
        import aiohttp

        form = aiohttp.FormData()
        for key, value in fields.items():
            index = None if key in TEXT_KEYS else payload.media_index(value)
            if index is not None:
                item = media[index]
                found = await self.read_media(item)
                form.add_field(
                    key, found.data, filename=item.filename, content_type=found.mime_type
                )
            elif isinstance(value, bool):
                form.add_field(key, "true" if value else "false")
            else:
                form.add_field(key, str(value))
        return form

    # ------------------------------------------------------------------ lookup

    async def lookup(self, ref: DeliveryRef, rendered: Rendered, since: datetime) -> LookupResult:
        """The post (``_lookup_post``), then its first comment among the post's comments;
        an answer among the replies to the comment it answers."""
        on = rendered.parts[0].payload.get(ANSWER_ON) if rendered.parts else None
        if isinstance(on, str):
            return await self._lookup_answer(on, rendered.parts[0].text)
        found = await self._lookup_post(rendered, since)
        return await self.with_comment(found, rendered, self._find_comment)

    async def _find_comment(self, post_id: str, text: str) -> str | None:
        """The id of the page's own comment reading ``text`` on ``post_id``, if there is one
        (a comment whose author Graph does not say is taken on its text)."""

        return await self.find_comment(post_id, text, COMMENTS, self._by_page)

    async def _lookup_answer(self, on: str, text: str) -> LookupResult:
        """The page's reply reading ``text`` on ``on``: Absent only when every reply was read."""
        try:
            found = await self.find_comment(on, text, COMMENT_REPLIES, self._by_page)
        except AdapterError as err:
            return Unknowable(f"the replies to {on} could not be read: {err.reason}")
        if found is None:
            return Absent()
        return Found(Published((RemotePart(0, found, None, {ANSWER_ON: on}),)))

    def _by_page(self, comment: Mapping[str, Any]) -> bool:
        """A comment by the page (one whose author Graph does not say is taken as one)."""
        author = comment.get("from")
        return (author.get("id") if isinstance(author, dict) else None) in (
            self._settings.page_id,
            None,
        )

    async def _lookup_post(self, rendered: Rendered, since: datetime) -> LookupResult:
        """The page's posts since ``since``, matched by message: Graph keeps no request keys."""
        if not rendered.parts:
            return Unknowable("nothing was rendered")
        listing = Listing(
            f"{self._settings.page_id}/posts", "message", "created_time", "permalink_url"
        )
        return await self.find_by_text(listing, rendered.parts[0].text, since, post_url)

    # ------------------------------------------------------------------ listening

    def listen_edges(self, own_posts: Sequence[OwnPost]) -> list[Edge]:
        return [
            Edge(
                p.remote_id,
                f"{p.remote_id}/comments",
                HEAR_PARAMS,
                ItemKind.COMMENT,
                p.remote_id,
                p.published_at,
            )
            for p in own_posts
        ]

    async def heard(self, item: Mapping[str, Any], edge: Edge) -> list[Heard]:
        """A comment, unless the page wrote it; an answer to it goes in its thread (Facebook
        nests one level: a reply's answer is on the comment it replies to)."""
        author = item.get("from")
        author = author if isinstance(author, dict) else {}
        if author.get("id") == self._settings.page_id:
            return []
        parent = item.get("parent")
        parent_id = parent.get("id") if isinstance(parent, dict) else None
        name = author.get("name")
        link = item.get("permalink_url")
        message = item.get("message")
        return [
            Heard(
                remote_id=str(item["id"]),
                kind=ItemKind.COMMENT,
                author=name if isinstance(name, str) else str(author.get("id", "")),
                text=message if isinstance(message, str) else "",
                url=link if isinstance(link, str) else "",
                created_at=item_time(item) or self.context.clock.now(),
                answers=edge.answers,
                reply={ANSWER_ON: parent_id} if isinstance(parent_id, str) else {},
                author_name=name if isinstance(name, str) else "",
            )
        ]

    # ------------------------------------------------------------------ engagement

    async def read_engagement(self, remote_ids: Sequence[str]) -> Sequence[PostReading]:
        """Reactions, comments and shares, 50 posts a call, then each post's insights."""
        readings: list[PostReading] = []
        for start in range(0, len(remote_ids), READ_BATCH):
            ids = remote_ids[start : start + READ_BATCH]
            objects = await self._read_objects(ids)
            insights_allowed = True
            for post_id in ids:
                found = objects[post_id]
                if isinstance(found, PostGone):
                    readings.append(found)
                    continue
                flat = _post_counts(found)
                if insights_allowed:
                    insights = await self._read_insights(post_id)
                    insights_allowed = insights is not None
                    flat.update(insights or {})
                readings.append(numbers_from(post_id, flat, self._figures()))
        return readings

    def _figures(self) -> dict[str, str]:
        """Our name: the key giving it, a post's own count (``POST_COUNTS``) or the insights
        metric the account reads for it; a figure no metric gives is unavailable."""
        by_figure = {ours: metric for metric, ours in self._settings.insights.items()}
        return {
            ours: POST_COUNTS.get(ours) or by_figure.get(ours, f"no insights metric: {ours}")
            for ours in FIGURES
        }

    async def _read_objects(self, ids: Sequence[str]) -> dict[str, dict[str, Any] | PostGone]:
        """The posts' fields in one call; each alone when Graph says one of them is gone."""
        what = f"reading the figures of {len(ids)} post(s)"
        params = {"ids": ",".join(ids), "fields": POST_FIELDS}
        answer = await self.graph_call("GET", "", Kind.READ, what, params=params)
        if not names_missing(answer):
            doc = self.graph_object(answer, Kind.READ, what)
            found: dict[str, dict[str, Any] | PostGone] = {}
            for post_id in ids:
                obj = doc.get(post_id)
                if not isinstance(obj, dict):
                    raise TransientError(f"{what}: Graph answered without post {post_id}")
                found[post_id] = obj
            return found
        return {post_id: await self._read_object(post_id) for post_id in ids}

    async def _read_object(self, post_id: str) -> dict[str, Any] | PostGone:
        what = "reading a post's figures"
        params = {"fields": POST_FIELDS}
        answer = await self.graph_call("GET", post_id, Kind.READ, what, params=params)
        if answer.status in (404, 410) or names_missing(answer):
            return PostGone(post_id, self.describe(answer))
        return self.graph_object(answer, Kind.READ, what)

    async def _read_insights(self, post_id: str) -> dict[str, object] | None:
        """The post's insights by Graph's metric names; None when the token may not read them
        (or a metric name was retired): those figures are then unavailable, not a failure."""
        table = self._settings.insights
        if not table:
            return {}
        what = "reading a post's insights"
        params = {"metric": ",".join(table)}
        answer = await self.graph_call("GET", f"{post_id}/insights", Kind.READ, what, params=params)
        if names_missing(answer):  # the post went since it was read
            return {}
        err = graph_error(answer)
        if err.code in INSIGHT_REFUSED:
            log.info("%s: insights unavailable: %s", self.account, self.describe(answer))
            return None
        data = self.graph_object(answer, Kind.READ, what).get("data")
        given: dict[str, object] = {}
        for metric in data if isinstance(data, list) else []:
            name = metric.get("name") if isinstance(metric, dict) else None
            values = metric.get("values") if isinstance(metric, dict) else None
            if name in table and isinstance(values, list) and values:
                last = values[-1]
                given[name] = last.get("value") if isinstance(last, dict) else None
        return given

    async def read_followers(self) -> int:
        what = "reading the follower count"
        page_id = self._settings.page_id
        params = {"fields": "followers_count"}
        doc = await self.graph("GET", page_id, Kind.READ, what, params=params)
        followers = counted(doc.get("followers_count"))
        if followers is None:
            raise TransientError(f"{what}: Graph answered without followers_count")
        return followers

    # ------------------------------------------------------------------ check

    async def check(self) -> AccountCheck:
        page_id = self._settings.page_id
        try:
            doc = await self.graph("GET", page_id, Kind.READ, "check", params={"fields": "id,name"})
        except AdapterError as err:
            return AccountCheck(CheckStatus.ATTENTION, detail=err.reason)
        name = doc.get("name")
        if not isinstance(name, str):
            detail = "check: Graph answered without the page's name"
            return AccountCheck(CheckStatus.ATTENTION, detail=detail)
        identity = f"{name} ({page_id})"
        expires_at, detail, valid = await self.token_expiry("page token")
        version = self.version_warning(self.context.clock.now())
        status = CheckStatus.OK if valid and version is None else CheckStatus.ATTENTION
        if version is not None:
            detail = f"{detail}; {version}"
        return AccountCheck(status, identity=identity, expires_at=expires_at, detail=detail)

    def version_warning(self, now: datetime) -> str | None:
        """What to tell an operator at ``now`` about the configured Graph API version."""
        version = self._settings.api_version
        return version_warning(
            f"Graph API {version}", "api_version", graph_end_of_life(version), now
        )


def _post_counts(post: Mapping[str, Any]) -> dict[str, object]:
    """A post's reactions, comments and shares, flat (``POST_COUNTS``). Graph leaves
    ``shares`` out of a post nobody shared: absent, it is zero (the field was asked for)."""
    shares = post.get("shares", {"count": 0})
    return {
        "reactions": _total(post.get("reactions")),
        "comments": _total(post.get("comments")),
        "shares": shares.get("count") if isinstance(shares, dict) else None,
    }


def _total(edge: Any) -> object:
    summary = edge.get("summary") if isinstance(edge, dict) else None
    return summary.get("total_count") if isinstance(summary, dict) else None


def post_url(post_id: str) -> str:
    return f"https://www.facebook.com/{post_id}"

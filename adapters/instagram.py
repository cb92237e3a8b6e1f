"""Instagram professional accounts through the Graph API (Instagram API with Facebook Login).

A post is a container published in a second step (``publisher.adapters.containers``, shared
with Threads), documented at developers.facebook.com/docs/instagram-platform/content-publishing:

* an image: ``POST /{ig-user-id}/media`` with ``image_url`` (JPEG, at most 8 MiB),
  ``caption`` and ``alt_text`` (image posts only, since March 2025);
* a video: a reel, ``media_type=REELS`` with ``video_url``;
* a carousel (2 to 10 items): a child container per item (``is_carousel_item``, ``VIDEO`` for
  a video), then a ``CAROUSEL`` container with their ids as ``children``;
* then ``GET /{container-id}?fields=status_code,status`` until ``FINISHED``, and
  ``POST /{ig-user-id}/media_publish`` with ``creation_id``.

Instagram posts always carry media: a text alone is a render error. A caption is at most
2,200 characters with at most 30 hashtags and 20 mentions (render errors too). The account
may publish 50 posts through the API in a rolling 24 hours (``content_publishing_limit``;
held, never failed, see the containers module); a publish refused for it (Graph code 9,
subcode 2207042) is a rate limit as well.

**First comment** (developers.facebook.com/docs/instagram-platform/instagram-graph-api/
reference/ig-media/comments): ``POST /{ig-media-id}/comments`` with ``message``, answering
``{"id"}``; Graph has no idempotency key, so a lost answer is ambiguous. The reference gives no
maximum for ``message``; the 2,200 characters kept are the app's, the caption's. A comment
needs ``instagram_manage_comments`` (``instagram_business_manage_comments`` with Instagram
Login).

An unknown outcome is settled by the account's recent media matched by caption, then the
first comment among the media's comments (``GET /{ig-media-id}/comments``, ``text`` and
``username``); comments that cannot be read make it unknowable, never a resend.
``check()`` reads the account's username, the share of the limit spent and, through Graph's
``debug_token`` (as for Facebook), when the token expires.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from publisher.adapters import payload
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
    PermanentError,
    PostContent,
    Problem,
    Progress,
    Published,
    RemotePart,
    Rendered,
    RenderedPart,
    Subject,
    Unknowable,
)
from publisher.adapters.containers import CHILDREN, ContainerAdapter
from publisher.adapters.graph import CommentListing, graph_error
from publisher.adapters.graph_listen import (
    ANSWER_ON,
    Edge,
    GraphListening,
    answer_on,
    answer_problems,
    item_time,
)
from publisher.adapters.transport import Answer, Kind, doubtful
from publisher.secrets import Secret
from publisher.text import code_points, find_entities

MAX_CAPTION = 2_200
MAX_COMMENT = 2_200
MAX_HASHTAGS = 30
MAX_MENTIONS = 20
MAX_CAROUSEL = 10
MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_VIDEO_BYTES = 300 * 1024 * 1024  # reels
IMAGE_TYPES = frozenset({"image/jpeg"})  # "JPEG is the only image format supported"
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime"})
# Instagram documents no maximum for alt_text; Threads' 1,000 characters is the bound kept.
MAX_ALT_TEXT = 1_000
TEXT_KEYS = frozenset({"caption", "alt_text"})  # the editor's words: no placeholders
COMMENT_TEXT_KEYS = frozenset({"message"})
# A media's comments, for a lookup (the IG Comment node's fields).
COMMENTS = CommentListing({"fields": "id,text,username,timestamp", "limit": "50"}, "text")

# Listening: a media's comments, each with its replies (the IG Comment's ``replies`` edge,
# expanded), newest first.
REPLY_FIELDS = "id,text,username,timestamp"
HEAR_PARAMS: Mapping[str, str] = {
    "fields": f"{REPLY_FIELDS},replies{{{REPLY_FIELDS}}}",
    "limit": "50",
}
# A comment's replies, for the lookup of an answer.
REPLIES = CommentListing({"fields": "id,text,username", "limit": "50"}, "text")

# Instagram's own failures (-1 server error, -2 media download timed out or container
# expired): a new container on a retry.
RETRY_CODES = frozenset({-1, -2})


class InstagramSettings(AccountSettings):
    user_id: str
    token: Secret
    api_base: str = "https://graph.facebook.com"
    api_version: str = "v23.0"
    client_id: str | None = None  # the Meta app's ID and secret: `accounts connect` only
    client_secret: Secret | None = None


class InstagramAdapter(GraphListening, ContainerAdapter):
    network = "instagram"
    Settings = InstagramSettings
    listening = Listening(
        kinds=(ItemKind.COMMENT,),
        per_post=True,
        limits=(
            "hears the comments on the account's recent media, with the replies to them "
            "that Graph lists with each comment: a new reply to an old comment is heard "
            "only while that comment is on the first page read; @mentions in others' "
            "captions and comments reach apps by webhook only: not heard; an answer is a "
            "reply to the comment, text only"
        ),
    )

    create_edge = "media"
    publish_edge = "media_publish"
    status_field = "status_code"
    status_detail = "status"
    limit_edge = "content_publishing_limit"
    declared_quota = 50
    listing_fields = ("media", "caption", "timestamp", "permalink")
    text_keys = TEXT_KEYS
    # "query a container's status once per minute, for no more than 5 minutes"
    poll_every = timedelta(minutes=1)
    max_processing = timedelta(minutes=5)

    @property
    def _settings(self) -> InstagramSettings:
        assert isinstance(self.settings, InstagramSettings)
        return self.settings

    @property
    def user_id(self) -> str:
        return self._settings.user_id

    def graph_root(self) -> str:
        return f"{self._settings.api_base.rstrip('/')}/{self._settings.api_version}"

    def graph_token(self) -> Secret:
        return self._settings.token

    def post_url(self, remote_id: str) -> str | None:
        return None  # Instagram's addresses use a shortcode the id does not give

    # ------------------------------------------------------------------ capabilities

    def capabilities(self) -> Capabilities:
        return Capabilities(
            network="instagram",
            length=LengthRule(code_points, MAX_CAPTION),
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
            threads=False,
            comments=Comments(LengthRule(code_points, MAX_COMMENT)),
        )

    # ------------------------------------------------------------------ render and payloads

    def render(self, content: PostContent) -> Rendered:
        """The shared render, plus Instagram's own rules on a caption and its media."""
        rendered = super().render(content)
        if content.reply_to is not None:
            return rendered.with_problems(errors=answer_problems(content, "Instagram"))
        errors: list[Problem] = []
        warnings: list[Problem] = []
        if not content.media:
            errors.append(Problem("an Instagram post needs an image or a video", Subject.MEDIA))
        errors += self.carousel_total(content, MAX_CAROUSEL, "Instagram")
        entities = find_entities(content.text)
        for kind, most in (("hashtag", MAX_HASHTAGS), ("mention", MAX_MENTIONS)):
            found = sum(1 for e in entities if e.kind == kind)
            if found > most:
                message = f"{found} {kind}s, Instagram takes at most {most} in a caption"
                errors.append(Problem(message, Subject.TEXT))
        for i, item in enumerate(content.media):
            if item.kind != "image" and item.alt:
                message = f"{item.filename}: Instagram takes alt text for images only; dropped"
                warnings.append(Problem(message, Subject.ALT, i))
        return rendered.with_problems(errors=errors, warnings=warnings)

    def build_payload(
        self, text: str, media: Sequence[MediaItem], index: int, total: int, content: PostContent
    ) -> Mapping[str, Any]:
        """The container's body; a carousel's lists its children's bodies; an answer
        (``reply_to:``): a reply's, on the comment answered (``answer_on``)."""
        target = content.reply_to
        if target is not None and index == 0:
            return {"message": text, ANSWER_ON: answer_on(target.refs, target.remote_id)}
        if len(media) == 1:
            body = _item(media[0], 0, carousel=False)
        else:
            body = {
                "media_type": "CAROUSEL",
                CHILDREN: [_item(m, i, carousel=True) for i, m in enumerate(media)],
            }
        if text:
            body["caption"] = text
        return body

    def build_comment(self, text: str, content: PostContent) -> Mapping[str, Any]:
        """The body of ``POST /{ig-media-id}/comments``: the account comments on its post."""
        return {"message": text}

    async def publish_part(self, part: RenderedPart, progress: Progress) -> RemotePart:
        """A container post, or an answer: ``POST /{ig-comment-id}/replies`` (no
        idempotency key: a lost answer is ambiguous, settled by ``lookup``)."""
        if ANSWER_ON not in part.payload:
            return await super().publish_part(part, progress)
        body = payload.fill(part.payload, text=COMMENT_TEXT_KEYS)
        on = str(body.pop(ANSWER_ON))
        doc = await self.graph("POST", f"{on}/replies", Kind.CREATE, "answer", json=body)
        reply_id = doc.get("id")
        if not isinstance(reply_id, str) or not reply_id:
            raise AmbiguousError("answer: Graph answered 200 without an id")
        return RemotePart(part.index, reply_id, None, {ANSWER_ON: on})

    async def publish_comment(self, part: RenderedPart, progress: Progress) -> RemotePart:
        """The first comment on the published media (part 0); a comment has no address of
        its own, so it carries the post's."""
        post = progress.out[0]
        body = payload.fill(part.payload, text=COMMENT_TEXT_KEYS)
        return RemotePart(part.index, await self.post_comment(post, body), post.url)

    # ------------------------------------------------------------------ classify

    def classify(self, answer: Answer, kind: Kind) -> AdapterError:
        err = super().classify(answer, kind)
        if isinstance(err, PermanentError) and graph_error(answer).code in RETRY_CODES:
            # Instagram's own failure: a container may be made again; a publish may be out.
            return doubtful(kind, err.reason, status=answer.status)
        return err

    # ------------------------------------------------------------------ lookup and check

    async def lookup(self, ref: DeliveryRef, rendered: Rendered, since: datetime) -> LookupResult:
        """The account's recent media since ``since``, matched by caption; then its first
        comment among the media's comments."""
        if not rendered.parts:
            return Unknowable("nothing was rendered")
        on = rendered.parts[0].payload.get(ANSWER_ON)
        if isinstance(on, str):
            return await self._lookup_answer(on, rendered.parts[0].text)
        found = await self.find_by_text(
            self.listing(), rendered.parts[0].text, since, self.post_url
        )
        return await self.with_comment(found, rendered, self._find_comment)

    async def _lookup_answer(self, on: str, text: str) -> LookupResult:
        """The account's reply reading ``text`` to the comment ``on``: Absent only when every
        reply was read."""
        try:
            ours = await self._username()
            found = await self.find_comment(
                on, text, REPLIES, lambda c: c.get("username") in (ours, None), edge="replies"
            )
        except AdapterError as err:
            return Unknowable(f"the replies to {on} could not be read: {err.reason}")
        if found is None:
            return Absent()
        return Found(Published((RemotePart(0, found, None, {ANSWER_ON: on}),)))

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
        """A comment and the replies Graph lists with it, but the account's own; an answer
        to a reply goes to the comment (Instagram nests one level)."""
        out = []
        comment = self._comment_heard(item, edge, None)
        if comment is not None:
            out.append(comment)
        replies = item.get("replies")
        data = replies.get("data") if isinstance(replies, dict) else None
        for reply in data if isinstance(data, list) else []:
            if isinstance(reply, dict) and isinstance(reply.get("id"), str):
                heard = self._comment_heard(reply, edge, str(item["id"]))
                if heard is not None:
                    out.append(heard)
        ours = await self._username() if out else ""
        return [h for h in out if h.author != f"@{ours}"]

    def _comment_heard(
        self, item: Mapping[str, Any], edge: Edge, parent: str | None
    ) -> Heard | None:
        name = item.get("username")
        text = item.get("text")
        if not isinstance(name, str) or not name:
            return None  # Graph names every commenter: a comment without one is not shown
        return Heard(
            remote_id=str(item["id"]),
            kind=ItemKind.COMMENT,
            author=f"@{name}",
            text=text if isinstance(text, str) else "",
            url="",  # an IG comment has no address of its own
            created_at=item_time(item) or self.context.clock.now(),
            answers=edge.answers,
            reply={ANSWER_ON: parent} if parent is not None else {},
        )

    async def _find_comment(self, media_id: str, text: str) -> str | None:
        """The account's comment reading ``text`` on ``media_id``: one whose ``username`` is
        the account's (read once), or, without a username, on its text alone."""
        ours = await self._username()

        def mine(comment: Mapping[str, Any]) -> bool:
            author = comment.get("username")
            return not isinstance(author, str) or author == ours

        return await self.find_comment(media_id, text, COMMENTS, mine)

    async def _username(self) -> str:
        return await self.own_username(self.user_id)

    async def check(self) -> AccountCheck:
        """The account, the limit spent, and when the token expires (``debug_token``, on the
        same Graph API as Facebook's)."""
        found = await self.identity(self.user_id, "username")
        if found.status is not CheckStatus.OK:
            return found
        expires_at, detail, valid = await self.token_expiry("token")
        return AccountCheck(
            CheckStatus.OK if valid else CheckStatus.ATTENTION,
            identity=found.identity,
            expires_at=expires_at,
            detail=f"{found.detail}; {detail}",
        )


def _item(item: MediaItem, index: int, *, carousel: bool) -> dict[str, Any]:
    """One image or video container (a carousel's child, or the post itself)."""
    if item.kind == "image":
        body: dict[str, Any] = {"image_url": payload.media(index)}
        if item.alt:
            body["alt_text"] = item.alt
    else:
        kind = "VIDEO" if carousel else "REELS"
        body = {"media_type": kind, "video_url": payload.media(index)}
    if carousel:
        body["is_carousel_item"] = True
    return body

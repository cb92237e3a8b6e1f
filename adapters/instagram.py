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
    AccountCheck,
    AccountSettings,
    AdapterError,
    Capabilities,
    CheckStatus,
    Comments,
    DeliveryRef,
    LengthRule,
    LookupResult,
    MediaItem,
    MediaLimits,
    PermanentError,
    PostContent,
    Problem,
    Progress,
    RemotePart,
    Rendered,
    RenderedPart,
    Subject,
    TransientError,
    Unknowable,
)
from publisher.adapters.containers import CHILDREN, ContainerAdapter
from publisher.adapters.graph import CommentListing, graph_error
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


class InstagramAdapter(ContainerAdapter):
    network = "instagram"
    Settings = InstagramSettings

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
    _own_username: str | None = None  # read by the first lookup of a comment

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
        """The container's body; a carousel's lists its children's bodies."""
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
        found = await self.find_by_text(
            self.listing(), rendered.parts[0].text, since, self.post_url
        )
        return await self.with_comment(found, rendered, self._find_comment)

    async def _find_comment(self, media_id: str, text: str) -> str | None:
        """The account's comment reading ``text`` on ``media_id``: one whose ``username`` is
        the account's (read once), or, without a username, on its text alone."""
        ours = await self._username()

        def mine(comment: Mapping[str, Any]) -> bool:
            author = comment.get("username")
            return not isinstance(author, str) or author == ours

        return await self.find_comment(media_id, text, COMMENTS, mine)

    async def _username(self) -> str:
        """The account's username (``GET /{ig-user-id}?fields=username``), read once."""
        if self._own_username is None:
            doc = await self.graph(
                "GET", self.user_id, Kind.READ, "lookup: account", params={"fields": "username"}
            )
            name = doc.get("username")
            if not isinstance(name, str) or not name:
                raise TransientError("lookup: Graph answered without the account's username")
            self._own_username = name
        return self._own_username

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

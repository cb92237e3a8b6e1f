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

The page token travels only in the ``Authorization`` header, never in a payload (dry-run
prints payloads) nor in a request URL, except ``input_token`` of ``debug_token`` in
``check()``, which Graph takes nowhere else; every error text is scrubbed of it anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from publisher.adapters import payload
from publisher.adapters.base import (
    AccountCheck,
    AccountSettings,
    AdapterError,
    AmbiguousError,
    Capabilities,
    CheckStatus,
    DeliveryRef,
    LengthRule,
    LookupResult,
    MediaItem,
    MediaLimits,
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
from publisher.adapters.graph import GraphAdapter, Listing
from publisher.adapters.graph import usage_retry_after as usage_retry_after
from publisher.adapters.transport import Kind
from publisher.secrets import Secret
from publisher.text import code_points

if TYPE_CHECKING:  # aiohttp loads with the first request: rendering needs none
    import aiohttp

log = logging.getLogger("publisher.network.facebook")

MAX_LENGTH = 63_206  # Graph's limit on a post's message, in characters
MAX_PHOTOS = 10
MAX_PHOTO_BYTES = 4 * 1024 * 1024
# Graph's documented photo formats. GIF is left out: the shared layer counts GIFs as
# video, and Graph would flatten an animated GIF to a still photo anyway.
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/bmp", "image/tiff"})
TEXT_KEYS = frozenset({"message", "caption", "link"})  # the editor's words: no placeholders


class FacebookSettings(AccountSettings):
    page_id: str
    page_token: Secret
    api_base: str = "https://graph.facebook.com"
    api_version: str = "v23.0"


class FacebookAdapter(GraphAdapter):
    network = "facebook"
    Settings = FacebookSettings

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
        )

    # ------------------------------------------------------------------ render and payloads

    def render(self, content: PostContent) -> Rendered:
        """The shared render, plus what Graph does with an editor's link card."""
        rendered = super().render(content)
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
        """One photo: the ``/photos`` body; several: the ``/feed`` body attaching them."""
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

    # ------------------------------------------------------------------ publish_part

    async def publish_part(self, part: RenderedPart, progress: Progress) -> RemotePart:
        """A single photo is published by ``/photos`` itself; anything else by ``/feed``."""
        if "source" in part.payload:
            remote = await self._publish_photo(part)
        else:
            remote = await self._publish_feed(part)
        log.debug("%s: published %s", self.account, remote.url)
        return remote

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
        """The page's posts since ``since``, matched by message: Graph keeps no request keys."""
        if not rendered.parts:
            return Unknowable("nothing was rendered")
        listing = Listing(
            f"{self._settings.page_id}/posts", "message", "created_time", "permalink_url"
        )
        return await self.find_by_text(listing, rendered.parts[0].text, since, post_url)

    # ------------------------------------------------------------------ check

    async def check(self) -> AccountCheck:
        page_id = self._settings.page_id
        try:
            doc = await self.graph(
                "GET", page_id, Kind.READ, "check", params={"fields": "id,name"}
            )
        except AdapterError as err:
            return AccountCheck(CheckStatus.ATTENTION, detail=err.reason)
        name = doc.get("name")
        if not isinstance(name, str):
            detail = "check: Graph answered without the page's name"
            return AccountCheck(CheckStatus.ATTENTION, detail=detail)
        identity = f"{name} ({page_id})"
        expires_at, detail, valid = await self.token_expiry("page token")
        status = CheckStatus.OK if valid else CheckStatus.ATTENTION
        return AccountCheck(status, identity=identity, expires_at=expires_at, detail=detail)



def post_url(post_id: str) -> str:
    return f"https://www.facebook.com/{post_id}"

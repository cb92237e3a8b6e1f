"""LinkedIn through the versioned REST API (``/rest/posts``, ``/rest/images``), with aiohttp.

Commentary is LinkedIn's "little" text format, not plain text: ``\\ | { } @ [ ] ( ) < > # * _ ~``
are reserved, and LinkedIn does not refuse a post with one left unescaped, it silently cuts
the text at it. ``escape_little`` escapes every one of them, except that a hashtag becomes
the documented ``{hashtag|\\#|tag}`` template so it stays a hashtag. Mentions are out of scope:
``@`` is always escaped.

The Posts API has no idempotency key. A post whose answer is lost is ambiguous and is
resolved by ``lookup`` (the author's recent posts, matched by commentary), never by sending
again. LinkedIn refuses an identical post by the same author (422 ``DUPLICATE_POST``) and
names the existing one: that too is ambiguous (it may be ours), carrying the URN.
Image uploads create nothing visible until a post references them, so their failures are
plain transient errors.

Uploads are ``Kind.UPLOAD`` requests and the post ``Kind.CREATE`` (the shared boundary,
``publisher.adapters.transport``); ``classify`` adds LinkedIn's rules to the shared default: no
idempotency key, so a 5xx (503 included) or an odd answer to the post is ambiguous too.

Engagement reads (``publisher.adapters.linkedin_stats``): an organization's posts' lifetime
statistics, 20 a call, and its follower count; a post the statistics leave out is looked up
(404/410: gone). A member's posts cannot be read (see there): unavailable, never zero.

Listening (``publisher.adapters.linkedin_listen``): the comments on our posts, read post by
post; an answer is a comment on the comment heard, found again by ``lookup`` among its
comments.

Access tokens last 60 days and LinkedIn offers no way to ask when one expires, so the
operator writes ``token_expires`` in the config: a token past it is refused before any
request, and ``check()`` warns seven days ahead. The token travels only in the
``Authorization`` header, never in a URL or a payload; error texts are scrubbed anyway.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from yarl import URL

from publisher.adapters import payload
from publisher.adapters.apiversions import linkedin_sunset, version_warning
from publisher.adapters.base import (
    Absent,
    AccountCheck,
    AdapterError,
    AmbiguousError,
    Attention,
    Capabilities,
    CheckStatus,
    Comments,
    DeliveryRef,
    Found,
    HeardPage,
    LengthRule,
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
    TransientError,
    Unknowable,
)
from publisher.adapters.engagement import PostGone, PostNumbers, PostReading, counted
from publisher.adapters.linkedin_errors import Refusal
from publisher.adapters.linkedin_errors import retry_after as retry_after
from publisher.adapters.linkedin_listen import LISTENING, comment_url, read_comments, reply_body
from publisher.adapters.linkedin_little import escape_little as escape_little
from publisher.adapters.linkedin_little import unescape_little as unescape_little
from publisher.adapters.linkedin_settings import AUTHOR_RE
from publisher.adapters.linkedin_settings import DEFAULT_VERSION as DEFAULT_VERSION
from publisher.adapters.linkedin_settings import LinkedInSettings as LinkedInSettings
from publisher.adapters.linkedin_stats import (
    ENGAGEMENT,
    FOLLOWERS_EDGE,
    READ_BATCH,
    organization_of,
    readable,
    statistics_by_post,
    statistics_query,
)
from publisher.adapters.transport import Answer, HttpAdapter, Kind, Request, clipped, doubtful
from publisher.secrets import REDACTOR
from publisher.text import code_points

log = logging.getLogger("publisher.network.linkedin")

MAX_LENGTH = 3_000  # commentary, in characters
# A comment's text: LinkedIn's editor stops a comment at 1,250 characters; the Comments API
# documents no larger figure, so no longer comment is sent.
MAX_COMMENT_LENGTH = 1_250
MAX_IMAGES = 20  # a multiImage post takes 2 to 20; one image goes in content.media
ALT_TEXT_MAX = 4_086  # the Posts API's limit on a media's altText
# The Images API takes JPEG, PNG and GIF. GIF is left out: the shared layer counts GIFs as
# video, which this adapter does not publish. LinkedIn limits images by pixel count
# (36,152,320), not bytes, so no byte limit is declared.
IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
THUMB_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
RESTLI_PROTOCOL = "2.0.0"

LOOKUP_COUNT = 50
LOOKUP_PAGES = 4  # pages of the author's posts read before giving up with Unknowable
LOOKUP_SLACK = timedelta(minutes=10)  # clock skew between us and LinkedIn's createdAt

# The editor's words in a post's body: never taken for a placeholder.
TEXT_KEYS = frozenset({"commentary", "altText", "source", "title", "description"})
COMMENT_TEXT_KEYS = frozenset({"text"})  # a comment's message.text
COMMENT_URN_RE = re.compile(r"urn:li:comment:\(.+\)")

POST_URN_RE = re.compile(r"urn:li:(?:share|ugcPost):\d+")
IMAGE_URN_RE = re.compile(r"urn:li:image:[A-Za-z0-9_-]+")


def post_url(urn: str) -> str:
    return f"https://www.linkedin.com/feed/update/{urn}/"


def _normalize(text: str) -> str:
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n")).strip()


class LinkedInAdapter(HttpAdapter):
    network = "linkedin"
    Settings = LinkedInSettings
    engagement = ENGAGEMENT
    listening = LISTENING

    @property
    def _settings(self) -> LinkedInSettings:
        assert isinstance(self.settings, LinkedInSettings)
        return self.settings

    # ------------------------------------------------------------------ capabilities

    def capabilities(self) -> Capabilities:
        return Capabilities(
            network="linkedin",
            length=LengthRule(code_points, MAX_LENGTH),
            media=MediaLimits(
                max_images=MAX_IMAGES,
                max_videos=0,
                image_types=IMAGE_TYPES,
                alt_text_max=ALT_TEXT_MAX,
            ),
            threads=False,
            link_cards=True,
            comments=Comments(LengthRule(code_points, MAX_COMMENT_LENGTH)),
        )

    # ------------------------------------------------------------------ render and payloads

    def render(self, content: PostContent) -> Rendered:
        """The shared render, plus what LinkedIn does with link cards and escapes."""
        rendered = super().render(content)
        warnings: list[Problem] = []
        errors: list[Problem] = []
        link = content.link
        if link is not None and content.media:
            missing = "" if link.url in content.text else f"; {link.url} is not in the text"
            warnings.append(
                Problem(
                    "link card dropped: a LinkedIn post shows either images or a link "
                    f"card{missing}",
                    Subject.LINK,
                )
            )
        elif link is not None:
            if not link.title:
                warnings.append(
                    Problem(
                        "LinkedIn does not read the page for an API post's card: "
                        "the card has no title, so its URL is shown as the title",
                        Subject.LINK,
                    )
                )
            if link.thumb is not None and _thumb_type(link.thumb) is None:
                errors.append(
                    Problem(
                        f"{link.thumb.filename}: a LinkedIn card thumbnail must be JPEG or PNG",
                        Subject.THUMB,
                    )
                )
        if content.reply_to is not None:
            errors += _answer_problems(content, rendered)
        for part in rendered.post_parts:
            sent = part.payload.get("commentary")
            if isinstance(sent, str) and len(sent) > MAX_LENGTH >= part.length:
                warnings.append(
                    Problem(
                        f"the escaped commentary is {len(sent)} characters ({part.length} "
                        f"shown): should LinkedIn count the escapes against its "
                        f"{MAX_LENGTH:,}, it will refuse the post",
                        Subject.TEXT,
                    )
                )
        return rendered.with_problems(errors, warnings)

    def build_payload(
        self, text: str, media: Sequence[MediaItem], index: int, total: int, content: PostContent
    ) -> Mapping[str, Any]:
        """The ``/rest/posts`` body: images as "<media:N>", a card's thumbnail "<thumb:PATH>";
        an answer (``reply_to``) is a comment's body instead (``linkedin_listen``)."""
        s = self._settings
        if content.reply_to is not None and content.reply_to.resolved and index == 0:
            return reply_body(s.author, content.reply_to, text)
        body: dict[str, Any] = {
            "author": s.author,
            "commentary": escape_little(text),
            "visibility": s.visibility,
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        if len(media) == 1:
            body["content"] = {"media": _image_ref(0, media[0])}
        elif media:
            body["content"] = {
                "multiImage": {"images": [_image_ref(i, m) for i, m in enumerate(media)]}
            }
        elif content.link is not None:
            link = content.link
            article: dict[str, Any] = {"source": link.url, "title": link.title or link.url}
            if link.description:
                article["description"] = link.description
            if link.thumb is not None:
                article["thumbnail"] = payload.thumb(link.thumb.name)
            body["content"] = {"article": article}
        return body

    def build_comment(self, text: str, content: PostContent) -> Mapping[str, Any]:
        """The Comments API's body (``POST /rest/socialActions/{post}/comments``): the author
        comments on its own post. ``message.text`` is plain text (comments are not little
        text: nothing to escape)."""
        return {
            "actor": self._settings.author,
            "object": payload.part(0),
            "message": {"text": text},
        }

    # ------------------------------------------------------------------ publish_part

    async def publish_part(self, part: RenderedPart, progress: Progress) -> RemotePart:
        """The images (and the card's thumbnail), then the post; an answer, its comment."""
        self._refuse_expired()
        self.reveal(self._settings.token)  # a missing secret fails here, before any upload
        parent = part.payload.get("parentComment")
        if isinstance(parent, str):
            body = payload.fill(part.payload, text=COMMENT_TEXT_KEYS)
            return await self._send_comment(part.index, body, parent, "answer")
        # Every file is read before the first request: a missing one uploads nothing.
        files = [await self.read_media(item) for item in part.media]
        urns = [
            await self._upload_bytes(f.data, f.mime_type, f"image {i + 1}/{len(files)}")
            for i, f in enumerate(files)
        ]
        thumb_urn = await self._upload_thumb(part.payload, part.thumb)
        body = payload.fill(part.payload, media=urns, thumb=thumb_urn, text=TEXT_KEYS)
        remote = await self._create_post(part.index, body)
        log.debug("%s: published %s", self.account, remote.url)
        return remote

    async def publish_comment(self, part: RenderedPart, progress: Progress) -> RemotePart:
        """The first comment on the post (part 0), through the Comments API. Like a post, it
        has no idempotency key: a lost answer is ambiguous, settled by ``lookup``."""
        self._refuse_expired()
        body = payload.fill(part.payload, parts=progress.remote_ids(), text=COMMENT_TEXT_KEYS)
        post = str(body["object"])
        remote = await self._send_comment(part.index, body, post, "first comment")
        return RemotePart(part.index, remote.remote_id, post_url(post))

    async def _send_comment(
        self, index: int, body: Mapping[str, Any], on: str, what: str
    ) -> RemotePart:
        """A comment on ``on`` (a post, or the comment a reply is made to)."""
        url = self._rest(f"socialActions/{quote(on, safe='')}/comments")
        request = self._request("POST", url, Kind.CREATE, what, json_body=body)
        answer = await self.send(request, expect=(200, 201))
        doc = answer.maybe_json()
        raw = answer.headers.get("x-restli-id") or ""
        urn = doc.get("$URN") if isinstance(doc, dict) else None
        if not isinstance(urn, str):
            urn = unquote(raw.strip())
        if COMMENT_URN_RE.fullmatch(urn) is None:
            raise AmbiguousError(
                f"{what}: LinkedIn answered {answer.status} without a comment URN",
                status=answer.status,
            )
        log.debug("%s: %s %s on %s", self.account, what, urn, on)
        return RemotePart(index, urn, comment_url(str(body["object"]), urn))

    async def _create_post(self, index: int, body: Mapping[str, Any]) -> RemotePart:
        request = self._request("POST", self._rest("posts"), Kind.CREATE, "post", json_body=body)
        answer = await self.send(request, expect=(201,))
        raw = answer.headers.get("x-restli-id") or answer.headers.get("x-linkedin-id") or ""
        urn = unquote(raw.strip())
        if POST_URN_RE.fullmatch(urn) is None:
            snippet = self.scrub(repr(REDACTOR.clip(urn, 80)))
            raise AmbiguousError(
                f"post: LinkedIn answered 201 without a post URN (x-restli-id {snippet})",
                status=answer.status,
            )
        return RemotePart(index, urn, post_url(urn))

    async def _upload_thumb(self, body: Mapping[str, Any], item: MediaItem | None) -> str | None:
        content = body.get("content")
        article = content.get("article") if isinstance(content, Mapping) else None
        thumb = article.get("thumbnail") if isinstance(article, Mapping) else None
        if not payload.is_thumb(thumb):
            return None
        if item is None:
            raise PermanentError("the payload names a card thumbnail the post does not have")
        found = await self.read_media(item)
        if _thumb_type(item, found.mime_type) is None:
            raise PermanentError(
                f"{item.name}: a LinkedIn card thumbnail must be JPEG or PNG",
                attention=Attention.CONTENT,
            )
        return await self._upload_bytes(found.data, found.mime_type, "card thumbnail")

    async def _upload_bytes(self, data: bytes, mime: str, what: str) -> str:
        """initializeUpload, then PUT the bytes: nothing is visible yet, failures are transient."""
        init = f"{what}: initializeUpload"
        request = self._request(
            "POST",
            self._rest("images", query="action=initializeUpload"),
            Kind.UPLOAD,
            init,
            json_body={"initializeUploadRequest": {"owner": self._settings.author}},
        )
        doc = (await self.send(request, expect=(200,))).maybe_json()
        value = doc.get("value") if isinstance(doc, dict) else None
        upload_url = value.get("uploadUrl") if isinstance(value, dict) else None
        image = value.get("image") if isinstance(value, dict) else None
        if not isinstance(upload_url, str) or not isinstance(image, str):
            raise TransientError(f"{init}: LinkedIn answered without uploadUrl and image")
        if IMAGE_URN_RE.fullmatch(image) is None or urlsplit(upload_url).scheme not in (
            "http",
            "https",
        ):
            raise TransientError(f"{init}: LinkedIn answered an unusable upload target")
        put = self._request(
            "PUT",
            URL(upload_url, encoded=True),
            Kind.UPLOAD,
            f"{what}: upload",
            data=data,
            content_type=mime,
            auth=self._may_carry_token(upload_url),
            versioned=False,
        )
        await self.send(put, expect=(200, 201))
        return image

    def _may_carry_token(self, url: str) -> bool:
        """The token goes to the API's own host or linkedin.com, never to any other host."""
        host = (urlsplit(url).hostname or "").lower()
        api_host = (urlsplit(self._settings.api_base).hostname or "").lower()
        return host == api_host or host == "linkedin.com" or host.endswith(".linkedin.com")

    # ------------------------------------------------------------------ classify

    def classify(self, answer: Answer, kind: Kind) -> AdapterError:
        """LinkedIn's status decides, its ``code`` and ``message`` explain; the shared default
        for the statuses LinkedIn means as every network does."""
        status = answer.status
        reason = self.describe(answer)
        if status == 401:
            return PermanentError(
                f"{reason} (token expired or revoked)",
                attention=Attention.CREDENTIALS,
                status=status,
            )
        refusal = Refusal.of(answer)
        if status == 422 and refusal.duplicate:
            text = answer.body.decode("utf-8", "replace")
            m = POST_URN_RE.search(refusal.message) or POST_URN_RE.search(text)
            urn = m.group(0) if m else None
            named = f" {urn}" if urn else ""
            return AmbiguousError(
                f"{reason}; LinkedIn already has this post{named} (ours, or an identical one)",
                remote_id=urn,
                status=status,
            )
        if status >= 500 or status < 400:
            # No idempotency key on LinkedIn: a 5xx (503 too) or an odd answer after the body
            # left may hide a post, while an upload that failed left nothing visible.
            return doubtful(kind, reason, status=status)
        if status == 426:
            # A retired LinkedIn-Version refuses every request: the operator's to fix, like
            # a revoked token. The account is held, its deliveries wait; none fails.
            return PermanentError(
                f"{reason}: LinkedIn-Version {self._settings.version} is not served any more; "
                f"set `version` of account {self.account} to a served version (e.g. "
                f"{DEFAULT_VERSION}) and reload the daemon: its held posts then go out",
                attention=Attention.VERSION,
                status=status,
            )
        return super().classify(answer, kind)

    def describe(self, answer: Answer) -> str:
        refusal = Refusal.of(answer)
        named = refusal.code or next(iter(sorted(refusal.input_codes)), "")
        label = f"LinkedIn {named}" if named else "LinkedIn"
        message = refusal.message
        if not message and not isinstance(answer.maybe_json(), dict):
            snippet = clipped(self.scrub, answer.body.decode("utf-8", "replace"), 80).strip()
            message = f"unexpected answer {snippet!r}" if snippet else "empty answer"
        what = answer.request.what
        return self.scrub(f"{what}: {label} (HTTP {answer.status}): {message or 'no message'}")

    # ------------------------------------------------------------------ lookup

    async def lookup(self, ref: DeliveryRef, rendered: Rendered, since: datetime) -> LookupResult:
        """The post (``_lookup_post``), then its first comment among the post's comments; an
        answer among the comments on the comment it answers."""
        parent = rendered.parts[0].payload.get("parentComment") if rendered.parts else None
        if isinstance(parent, str):
            return await self._lookup_answer(parent, rendered.parts[0])
        found = await self._lookup_post(ref, rendered, since)
        comment = rendered.comment
        if not isinstance(found, Found) or comment is None:
            return found
        post = found.published.parts[0]
        try:
            urn = await self._find_comment(post.remote_id, comment.text)
        except AdapterError as err:
            # The post is out; whether its comment is cannot be told: never resend it blind.
            return Unknowable(f"the post is {post.remote_id}; its comments: {err.reason}")
        if urn is None:
            return found  # the comment is not out: the engine sends it, and only it
        remote = RemotePart(comment.index, urn, post.url)
        return Found(Published((post, remote)))

    async def _lookup_answer(self, parent: str, part: RenderedPart) -> LookupResult:
        try:
            urn = await self._find_comment(parent, part.text)
        except AdapterError as err:
            return Unknowable(f"the answers to {parent}: {err.reason}")
        if urn is None:
            return Absent()
        post = str(part.payload.get("object", ""))
        return Found(Published((RemotePart(part.index, urn, comment_url(post, urn)),)))

    async def _find_comment(self, post: str, text: str) -> str | None:
        """The URN of the author's comment reading ``text`` on ``post``, if there is one."""
        wanted = _normalize(text)
        path = f"socialActions/{quote(post, safe='')}/comments"
        for page in range(LOOKUP_PAGES):
            query = f"start={page * LOOKUP_COUNT}&count={LOOKUP_COUNT}"
            url = self._rest(path, query=query)
            request = self._request("GET", url, Kind.READ, "lookup")
            doc = (await self.send(request, expect=(200,))).maybe_json()
            elements = doc.get("elements") if isinstance(doc, dict) else None
            if not isinstance(elements, list):
                raise TransientError("lookup: LinkedIn answered without an elements list")
            for element in elements:
                if not isinstance(element, dict) or element.get("actor") != self._settings.author:
                    continue
                message = element.get("message")
                said = message.get("text") if isinstance(message, dict) else None
                urn = element.get("$URN")
                if isinstance(said, str) and isinstance(urn, str) and _normalize(said) == wanted:
                    return urn
            if len(elements) < LOOKUP_COUNT:
                return None
        raise TransientError(f"lookup: more than {LOOKUP_PAGES * LOOKUP_COUNT} comments to read")

    async def _lookup_post(
        self, ref: DeliveryRef, rendered: Rendered, since: datetime
    ) -> LookupResult:
        """The author's recent posts, matched by commentary: LinkedIn keeps no request keys."""
        if not rendered.parts:
            return Unknowable("nothing was rendered")
        if ref.remote_hint and ref.remote_hint.startswith("urn:li:"):
            # A DUPLICATE_POST answer named this post: check it first.
            named = await self.lookup_urn(ref.remote_hint, since)
            if isinstance(named, Found):
                return named
        sent = rendered.parts[0].payload.get("commentary")
        wanted = _normalize(unescape_little(sent if isinstance(sent, str) else ""))
        if not wanted:
            return Unknowable("a post without text cannot be told apart among the author's posts")
        oldest = since - LOOKUP_SLACK
        older_twin: str | None = None
        try:
            for page in range(LOOKUP_PAGES):
                query = (
                    f"author={quote(self._settings.author, safe='')}&q=author"
                    f"&count={LOOKUP_COUNT}&start={page * LOOKUP_COUNT}&sortBy=LAST_MODIFIED"
                )
                request = self._request(
                    "GET", self._rest("posts", query=query), Kind.READ, "lookup"
                )
                answer = await self.send(request, expect=(200,))
                doc = answer.maybe_json()
                elements = doc.get("elements") if isinstance(doc, dict) else None
                if not isinstance(elements, list):
                    return Unknowable("lookup: LinkedIn answered without an elements list")
                reached_older = False
                for post in elements:
                    if not isinstance(post, dict) or not isinstance(post.get("id"), str):
                        continue
                    created = _millis(post.get("createdAt"))
                    modified = _millis(post.get("lastModifiedAt")) or created
                    if modified is not None and modified < oldest:
                        reached_older = True
                    commentary = post.get("commentary")
                    if not isinstance(commentary, str):
                        continue
                    if _normalize(unescape_little(commentary)) != wanted:
                        continue
                    if created is not None and created < oldest:
                        older_twin = older_twin or post["id"]
                        continue
                    urn = post["id"]
                    return Found(Published((RemotePart(0, urn, post_url(urn)),)))
                if reached_older or len(elements) < LOOKUP_COUNT:
                    break
            else:
                return Unknowable(
                    f"lookup: more than {LOOKUP_PAGES * LOOKUP_COUNT} recent posts to read"
                )
        except AdapterError as err:
            return Unknowable(f"lookup failed: {err.reason}")
        if older_twin is not None:
            # Sending again would only meet DUPLICATE_POST: a human must decide.
            return Unknowable(
                f"an identical post {older_twin} older than this delivery exists; "
                "LinkedIn refuses duplicates"
            )
        return Absent()

    async def lookup_urn(self, urn: str, since: datetime | None = None) -> LookupResult:
        """Is the post ``urn`` (say, the one a DUPLICATE_POST named) there? With ``since``,
        a post created before it is an older twin, not ours: Unknowable."""
        if POST_URN_RE.fullmatch(urn) is None:
            return Unknowable(f"{urn!r} is not a LinkedIn post URN")
        try:
            url = self._rest(f"posts/{quote(urn, safe='')}")
            answer = await self.send(
                self._request("GET", url, Kind.READ, "lookup"), expect=(200, 404, 410)
            )
        except AdapterError as err:
            return Unknowable(f"lookup failed: {err.reason}")
        if answer.status != 200:
            return Absent()
        doc = answer.maybe_json()
        if not isinstance(doc, dict) or doc.get("id") not in (urn, None):
            return Unknowable(f"lookup: LinkedIn answered another post for {urn}")
        created = doc.get("createdAt")
        older = (
            isinstance(created, int)
            and since is not None
            and (datetime.fromtimestamp(created / 1000, UTC) < since - LOOKUP_SLACK)
        )
        if older:
            return Unknowable(f"{urn} is an older post with the same text")
        return Found(Published((RemotePart(0, urn, post_url(urn)),)))

    # ------------------------------------------------------------------ listening

    async def read_inbox(self, cursor: str | None, own_posts: Sequence[OwnPost]) -> HeardPage:
        """The comments on our posts (``linkedin_listen``); a post gone (404, 410) has none."""
        self._refuse_expired()

        async def page(post: str, start: int, count: int) -> Any:
            url = self._rest(
                f"socialActions/{quote(post, safe='')}/comments",
                query=f"start={start}&count={count}",
            )
            request = self._request("GET", url, Kind.READ, f"reading the comments on {post}")
            answer = await self.send(request, expect=(200, 404, 410))
            return answer.document() if answer.status == 200 else None

        return await read_comments(page, cursor, own_posts, self._settings.author)

    # ------------------------------------------------------------------ engagement

    async def read_engagement(self, remote_ids: Sequence[str]) -> Sequence[PostReading]:
        """An organization's posts' statistics, 20 a call; a member's: unavailable."""
        metrics = ENGAGEMENT.metrics
        org = organization_of(self._settings.author)
        if org is None:
            return [PostNumbers(urn, {}, metrics) for urn in remote_ids]
        self._refuse_expired()
        readings: list[PostReading] = []
        for start in range(0, len(remote_ids), READ_BATCH):
            urns = remote_ids[start : start + READ_BATCH]
            wanted = [u for u in urns if readable(u)]
            found = await self._statistics(org, wanted) if wanted else {}
            for urn in urns:
                if urn in found:
                    readings.append(found[urn])
                elif not readable(urn):
                    readings.append(PostGone(urn, "not a LinkedIn post URN"))
                else:
                    readings.append(await self._absent_statistics(urn))
        return readings

    async def _statistics(self, org: str, urns: Sequence[str]) -> dict[str, PostNumbers]:
        what = f"reading the statistics of {len(urns)} post(s)"
        url = self._rest("organizationalEntityShareStatistics", query=statistics_query(org, urns))
        answer = await self.send(self._request("GET", url, Kind.READ, what), expect=(200,))
        doc = answer.document()
        if not isinstance(doc, dict) or not isinstance(doc.get("elements"), list):
            raise TransientError(f"{what}: LinkedIn answered without an elements list")
        return statistics_by_post(doc)

    async def _absent_statistics(self, urn: str) -> PostReading:
        """Left out of the statistics: gone (404, 410), or unavailable this time (there, or
        hidden from the token: 403, one post's refusal, not the read's)."""
        url = self._rest(f"posts/{quote(urn, safe='')}")
        request = self._request("GET", url, Kind.READ, "looking for a post without statistics")
        answer = await self.send(request, expect=(200, 403, 404, 410))
        if answer.status in (404, 410):
            return PostGone(urn, self.describe(answer))
        return PostNumbers(urn, {}, ENGAGEMENT.metrics)

    async def read_followers(self) -> int:
        """An organization's followers (``networkSizes``); a member's are not given."""
        org = organization_of(self._settings.author)
        if org is None:
            raise PermanentError(
                "LinkedIn gives a member's follower count only to apps approved for it: "
                "not read for a member account"
            )
        self._refuse_expired()
        what = "reading the follower count"
        url = self._rest(f"networkSizes/{quote(org, safe='')}", query=f"edgeType={FOLLOWERS_EDGE}")
        answer = await self.send(self._request("GET", url, Kind.READ, what), expect=(200,))
        doc = answer.document()
        followers = counted(doc.get("firstDegreeSize") if isinstance(doc, dict) else None)
        if followers is None:
            raise TransientError(f"{what}: LinkedIn answered without firstDegreeSize")
        return followers

    # ------------------------------------------------------------------ check

    async def check(self) -> AccountCheck:
        s = self._settings
        now = self.context.clock.now()
        warnings = [w for w in (self.expiry_warning(now), self.version_warning(now)) if w]
        warning = "; ".join(warnings) or None
        m = AUTHOR_RE.fullmatch(s.author)
        if m is None:
            return AccountCheck(CheckStatus.ATTENTION, detail=f"author {s.author!r} is not a URN")
        try:
            if m.group("org"):
                identity, problem = await self._check_organization(m.group("org"))
            else:
                identity, problem = await self._check_member(m.group("person"))
        except AdapterError as err:
            identity, problem = "", err.reason
        details = [d for d in (problem, warning) if d]
        status = CheckStatus.ATTENTION if details else CheckStatus.OK
        if not details and s.expires_at is not None:
            details.append(f"token expires {s.expires_at:%Y-%m-%d %H:%M}Z")
        return AccountCheck(
            status, identity=identity, expires_at=s.expires_at, detail="; ".join(details)
        )

    async def _check_organization(self, org_id: str) -> tuple[str, str | None]:
        url = self._rest(f"organizations/{org_id}")
        answer = await self.send(self._request("GET", url, Kind.READ, "check"), expect=(200,))
        doc = answer.maybe_json()
        name = doc.get("localizedName") if isinstance(doc, dict) else None
        if not isinstance(name, str):
            return "", "check: LinkedIn answered without the organization's name"
        return f"{name} (urn:li:organization:{org_id})", None

    async def _check_member(self, person_id: str) -> tuple[str, str | None]:
        url = URL(f"{self._settings.api_base}/v2/userinfo", encoded=True)
        request = self._request("GET", url, Kind.READ, "check", versioned=False)
        answer = await self.send(request, expect=(200,))
        doc = answer.maybe_json()
        sub = doc.get("sub") if isinstance(doc, dict) else None
        if not isinstance(sub, str):
            return "", "check: LinkedIn's userinfo answered without the member's id"
        name = doc.get("name") if isinstance(doc.get("name"), str) else sub
        identity = f"{name} (urn:li:person:{sub})"
        if sub != person_id:
            return identity, (
                f"the token belongs to urn:li:person:{sub}, not the author "
                f"urn:li:person:{person_id}"
            )
        return identity, None

    # ------------------------------------------------------------------ token expiry (pure)

    def expiry_warning(self, now: datetime) -> str | None:
        """What to tell an operator about the token's expiry at ``now``, if anything."""
        return self._settings.expiry_warning(now)

    def version_warning(self, now: datetime) -> str | None:
        """What to tell an operator about the configured LinkedIn-Version at ``now``."""
        version = self._settings.version
        return version_warning(
            f"LinkedIn-Version {version}", "version", linkedin_sunset(version), now
        )

    def _refuse_expired(self) -> None:
        now = self.context.clock.now()
        expires = self._settings.expires_at
        if expires is not None and now >= expires:
            message = self.expiry_warning(now) or "the LinkedIn access token expired"
            raise PermanentError(message, attention=Attention.CREDENTIALS)

    # ------------------------------------------------------------------ requests

    def _rest(self, path: str, *, query: str = "") -> URL:
        url = f"{self._settings.api_base}/rest/{path}"
        return URL(f"{url}?{query}" if query else url, encoded=True)

    def _request(
        self,
        method: str,
        url: URL,
        kind: Kind,
        what: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        data: bytes | None = None,
        content_type: str | None = None,
        auth: bool = True,
        versioned: bool = True,
    ) -> Request:
        """A request to LinkedIn; the token goes in the Authorization header only."""
        headers: dict[str, str] = {}
        if auth:
            headers["Authorization"] = f"Bearer {self.reveal(self._settings.token)}"
        if versioned:
            headers["LinkedIn-Version"] = self._settings.version
            headers["X-Restli-Protocol-Version"] = RESTLI_PROTOCOL
        body: bytes | None = data
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        elif content_type is not None:
            headers["Content-Type"] = content_type
        return Request(method, url, kind, what, data=body, headers=headers)


def _answer_problems(content: PostContent, rendered: Rendered) -> list[Problem]:
    """An answer is a comment: plain text of at most 1,250 characters, nothing else."""
    out = []
    if content.media or content.link is not None:
        what = "an answer on LinkedIn is a comment: it takes neither images nor a link card"
        out.append(Problem(what, Subject.REPLY))
    for part in rendered.post_parts:
        if part.length > MAX_COMMENT_LENGTH:
            what = f"an answer on LinkedIn is a comment: {part.length} characters, over the"
            out.append(Problem(f"{what} {MAX_COMMENT_LENGTH:,} a comment takes", Subject.TEXT))
    return out


def _image_ref(index: int, item: MediaItem) -> dict[str, Any]:
    ref: dict[str, Any] = {"id": payload.media(index)}
    if item.alt:
        ref["altText"] = item.alt
    return ref


def _millis(value: Any) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value / 1000, UTC)
    return None


def _thumb_type(thumb: MediaItem, found: str = "") -> str | None:
    """The thumbnail's type if LinkedIn takes it: the type read from the file, else (a thumb
    stored before types were recorded) its name's."""
    mime = found or thumb.mime_type or THUMB_TYPES.get(Path(thumb.filename).suffix.lower(), "")
    return mime if mime in THUMB_TYPES.values() else None

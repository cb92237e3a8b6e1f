"""The pigeon network: a loft that sends one message per post, over a small HTTP API.

The loft's API, all JSON, a bearer token in ``Authorization``:

- ``POST /v1/messages`` ``{"text": ...}`` → 201 ``{"id", "url", "created_at"}``
- ``GET /v1/messages?since=<ISO 8601>`` → ``{"messages": [{"id", "url", "text", ...}]}``,
  every message sent since then (the whole list: a message not in it was not sent)
- ``GET /v1/me`` → ``{"loft": name}``
- errors: ``{"error": {"code", "message"}}``; 429 with ``Retry-After`` (seconds) or
  ``X-Loft-Reset`` (epoch seconds); 503 means the loft took nothing in.

The loft keeps no request keys: a failure after the message left may mean it was sent, so
it is ambiguous and ``lookup`` settles it by the message's text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field

from publisher.adapters.base import (
    MIN_LENGTH_LIMIT,
    Absent,
    AccountCheck,
    AccountSettings,
    AdapterError,
    Capabilities,
    CheckStatus,
    DeliveryRef,
    Found,
    LengthRule,
    LookupResult,
    MediaItem,
    MediaLimits,
    PostContent,
    Progress,
    Published,
    RemotePart,
    Rendered,
    RenderedPart,
    Unknowable,
)
from publisher.adapters.transport import Answer, HttpAdapter, Kind, Request
from publisher.secrets import Secret
from publisher.text import grapheme_length

MESSAGES = "/v1/messages"
ME = "/v1/me"


class PigeonSettings(AccountSettings):
    loft: str  # the loft's base URL
    token: Secret
    max_length: int = Field(default=280, ge=MIN_LENGTH_LIMIT)


class PigeonAdapter(HttpAdapter):
    """Everything HTTP (connection failures by request kind, the shared status table in
    ``HttpAdapter.classify``, which the loft's statuses follow without a quirk to add,
    Retry-After and reset headers, scrubbing, the publish loop) comes from the kit; this
    module says only what is the loft's own."""

    network = "pigeon"
    Settings = PigeonSettings
    reset_headers: ClassVar[tuple[str, ...]] = ("X-Loft-Reset",)

    @property
    def _settings(self) -> PigeonSettings:
        assert isinstance(self.settings, PigeonSettings)
        return self.settings

    def capabilities(self) -> Capabilities:
        return Capabilities(
            network=self.network,
            length=LengthRule(grapheme_length, self._settings.max_length),
            media=MediaLimits(),  # a pigeon carries words only
            threads=False,
        )

    def build_payload(
        self, text: str, media: Sequence[MediaItem], index: int, total: int, content: PostContent
    ) -> Mapping[str, Any]:
        return {"text": text}

    async def publish_part(self, part: RenderedPart, progress: Progress) -> RemotePart:
        answer = await self.send(
            self._request("POST", MESSAGES, Kind.CREATE, "sending the message", json=part.payload)
        )
        doc = answer.object()  # not a message: it may have been sent (the kit says so)
        return RemotePart(0, str(doc["id"]), str(doc["url"]))

    def error_detail(self, answer: Answer) -> str:
        """The loft's words: ``{"error": {"code": ..., "message": ...}}``."""
        doc = answer.maybe_json()
        err = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(err, dict):
            return f"{err.get('code')}: {err.get('message')}"
        return answer.body.decode("utf-8", "replace")

    async def lookup(self, ref: DeliveryRef, rendered: Rendered, since: datetime) -> LookupResult:
        """The loft lists every message since ``since``: ours by its text, or proved absent."""
        if not rendered.parts:
            return Unknowable("nothing was rendered")
        request = self._request(
            "GET", MESSAGES, Kind.READ, "reading the messages", params={"since": since.isoformat()}
        )
        try:
            messages = (await self.send(request)).object()["messages"]
            sent = [(str(m["id"]), str(m["url"]), str(m["text"])) for m in messages]
        except AdapterError as err:
            return Unknowable(f"cannot read the loft's messages: {err.reason}")
        except (KeyError, TypeError):
            return Unknowable("the loft's list of messages is not one")
        text = rendered.parts[0].text
        for remote_id, url, message in sent:
            if message == text:
                return Found(Published((RemotePart(0, remote_id, url),)))
        return Absent()

    async def check(self) -> AccountCheck:
        try:
            doc = (await self.send(self._request("GET", ME, Kind.READ, "checking"))).object()
            name = str(doc["loft"])
        except AdapterError as err:
            return AccountCheck(CheckStatus.ATTENTION, detail=err.reason)
        except KeyError:
            return AccountCheck(CheckStatus.ATTENTION, detail="the loft's answer is not one")
        return AccountCheck(CheckStatus.OK, identity=name)

    def _request(self, method: str, path: str, kind: Kind, what: str, **kw: Any) -> Request:
        token = self.reveal(self._settings.token)
        url = self._settings.loft.rstrip("/") + path
        return Request(method, url, kind, what, headers={"Authorization": f"Bearer {token}"}, **kw)

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

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from pydantic import Field

from publisher.adapters.base import (
    MIN_LENGTH_LIMIT,
    Absent,
    AccountCheck,
    AccountSettings,
    Adapter,
    AdapterError,
    AmbiguousError,
    Attention,
    Capabilities,
    CheckStatus,
    DeliveryRef,
    Found,
    LengthKind,
    LengthRule,
    LookupResult,
    MediaItem,
    MediaLimits,
    PermanentError,
    PostContent,
    Published,
    RateLimitedError,
    RemotePart,
    Rendered,
    TransientError,
    Unknowable,
)
from publisher.secrets import REDACTOR, Secret

MESSAGES = "/v1/messages"
ME = "/v1/me"


class PigeonSettings(AccountSettings):
    loft: str  # the loft's base URL
    token: Secret
    max_length: int = Field(default=280, ge=MIN_LENGTH_LIMIT)


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _problem(answer: _Answer) -> str:
    """The loft's own words about an error, scrubbed (it may quote the request back)."""
    try:
        doc = answer.json()
        err = doc["error"]
        text = f"{err['code']}: {err['message']}"
    except (ValueError, KeyError, TypeError):
        text = answer.body.decode("utf-8", "replace")
    return REDACTOR.clip(text, 300)


def _reset(headers: Mapping[str, str], now: datetime) -> datetime | None:
    """When a 429 says to come back: ``X-Loft-Reset`` (epoch) or ``Retry-After`` (seconds)."""
    raw = headers.get("X-Loft-Reset", "")
    if raw.isdigit():
        return datetime.fromtimestamp(int(raw), UTC)
    raw = headers.get("Retry-After", "").strip()
    if raw.isdigit():
        return now + timedelta(seconds=int(raw))
    return None


class PigeonAdapter(Adapter):
    network = "pigeon"
    Settings = PigeonSettings

    @property
    def _settings(self) -> PigeonSettings:
        assert isinstance(self.settings, PigeonSettings)
        return self.settings

    def capabilities(self) -> Capabilities:
        return Capabilities(
            network=self.network,
            length=LengthRule(LengthKind.GRAPHEMES, self._settings.max_length),
            media=MediaLimits(),  # a pigeon carries words only
            threads=False,
        )

    def build_payload(
        self, text: str, media: Sequence[MediaItem], index: int, total: int, content: PostContent
    ) -> Mapping[str, Any]:
        return {"text": text}

    async def _send(
        self,
        method: str,
        path: str,
        *,
        creates: bool,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> _Answer:
        """One request; a failure of the connection becomes one of our errors. ``creates``:
        a failure once the request may have left is ambiguous, not transient."""
        url = self._settings.loft.rstrip("/") + path
        headers = {"Authorization": f"Bearer {self.reveal(self._settings.token)}"}
        try:
            async with self.context.http().request(
                method, url, json=body, params=params, headers=headers,
                timeout=self.context.timeout,
            ) as response:
                return _Answer(response.status, dict(response.headers), await response.read())
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as err:
            raise TransientError(f"the loft cannot be reached ({type(err).__name__})") from None
        except (aiohttp.ClientError, TimeoutError) as err:
            why = f"no answer from the loft ({type(err).__name__})"
            if creates:
                raise AmbiguousError(f"{why}: the message may have been sent") from None
            raise TransientError(why) from None

    def _error(self, answer: _Answer, *, creates: bool) -> AdapterError:
        """The loft's refusal as one of our errors."""
        status, problem = answer.status, _problem(answer)
        reason = f"the loft refused ({status}): {problem}"
        if status == 401:
            return PermanentError(reason, attention=Attention.CREDENTIALS, status=status)
        if status == 403:
            return PermanentError(reason, attention=Attention.PERMISSION, status=status)
        if status == 429:
            now = self.context.clock.now()
            return RateLimitedError(reason, reset_at=_reset(answer.headers, now), status=status)
        if status == 503:
            return TransientError(reason, status=status)  # the loft took nothing in
        if status >= 500 and creates:
            return AmbiguousError(reason, status=status)
        if status >= 500:
            return TransientError(reason, status=status)
        return PermanentError(reason, attention=Attention.CONTENT, status=status)

    async def publish(
        self, rendered: Rendered, ref: DeliveryRef, done: Sequence[RemotePart] = ()
    ) -> Published:
        if done:
            return Published(tuple(done))  # one part: already out
        part = rendered.parts[0]
        answer = await self._send("POST", MESSAGES, creates=True, body=part.payload)
        if answer.status not in (200, 201):
            raise self._error(answer, creates=True)
        try:
            doc = answer.json()
            remote = RemotePart(0, str(doc["id"]), str(doc["url"]))
        except (ValueError, KeyError, TypeError):
            why = "the loft's answer is not a message: it may have been sent"
            raise AmbiguousError(why) from None
        return Published((remote,))

    async def lookup(self, ref: DeliveryRef, rendered: Rendered, since: datetime) -> LookupResult:
        """The loft lists every message since ``since``: ours by its text, or proved absent."""
        if not rendered.parts:
            return Unknowable("nothing was rendered")
        try:
            answer = await self._send(
                "GET", MESSAGES, creates=False, params={"since": since.isoformat()}
            )
        except AdapterError as err:
            return Unknowable(f"cannot read the loft's messages: {err.reason}")
        if answer.status != 200:
            return Unknowable(self._error(answer, creates=False).reason)
        try:
            messages = answer.json()["messages"]
            sent = [(str(m["id"]), str(m["url"]), str(m["text"])) for m in messages]
        except (ValueError, KeyError, TypeError):
            return Unknowable("the loft's list of messages is not one")
        text = rendered.parts[0].text
        for remote_id, url, message in sent:
            if message == text:
                return Found(Published((RemotePart(0, remote_id, url),)))
        return Absent()

    async def check(self) -> AccountCheck:
        try:
            answer = await self._send("GET", ME, creates=False)
        except AdapterError as err:
            return AccountCheck(CheckStatus.ATTENTION, detail=err.reason)
        if answer.status != 200:
            return AccountCheck(
                CheckStatus.ATTENTION, detail=self._error(answer, creates=False).reason
            )
        try:
            name = str(answer.json()["loft"])
        except (ValueError, KeyError, TypeError):
            return AccountCheck(CheckStatus.ATTENTION, detail="the loft's answer is not one")
        return AccountCheck(CheckStatus.OK, identity=name)

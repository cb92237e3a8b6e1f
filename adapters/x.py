"""The X (Twitter API v2) adapter: posts through tweepy, media through the v2 upload endpoints.

Why the pieces look the way they do:

* Posts, ``/2/users/me`` and the timeline go through tweepy's ``AsyncClient`` (``XClient``
  below), bent in one place: its ``request`` method, which hard-codes ``api.twitter.com``,
  creates its own aiohttp session when it has none, logs the Authorization header at DEBUG and
  ``await``s ``response.json()`` on error bodies that may be HTML. Overriding that one method
  keeps every public tweepy call (``create_tweet``, ``get_me``, ``get_users_tweets``) as it is.
* tweepy has no v2 media upload, so media use the same signed transport with aiohttp directly.
* Every failure is mapped once, in ``XAdapter._failure``. Nothing visible exists until
  ``POST /2/tweets`` answers, and X has no idempotency key for it: once that request's body
  has left, a 5xx, a timeout, a reset or a garbled 2xx is ambiguous. Media steps create
  nothing anybody sees, so the same failures there are transient.
* An OAuth 2 user token lasts two hours. Given a refresh token, the transport answers a 401
  with one refresh (``_Refresher``: under a lock, so concurrent requests share it) and one
  resend, safe even for ``POST /2/tweets`` since a 401 created nothing. X rotates the refresh
  token on every refresh, so the current pair is kept in a 0600 ``token_file``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import html
import json
import logging
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import Field, model_validator
from yarl import URL

from publisher.adapters.base import (
    MIN_LENGTH_LIMIT,
    Absent,
    AccountCheck,
    AccountSettings,
    Adapter,
    AdapterContext,
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
from publisher.media import MediaFile
from publisher.secrets import REDACTOR, MissingSecretError, Secret, SecretSource
from publisher.text import x_weighted_length

if TYPE_CHECKING:  # aiohttp, oauthlib and tweepy load where a request is made: not to render
    import aiohttp
    from tweepy.errors import HTTPException

    from publisher.adapters.x_client import XClient

log = logging.getLogger("publisher.network.x")

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
# A GIF is uploaded as "tweet_gif" and counts against the one video slot.
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "image/gif"})
STATUS_URL = "https://x.com/i/web/status/{id}"
USER_AGENT = "publisher/0.1 (+tweepy)"
DUPLICATE_MARK = "duplicate content"

CHUNK_BYTES = 4 * 1024 * 1024  # X takes APPEND segments of up to 5 MB
MAX_PROCESSING_WAIT = timedelta(minutes=15)  # beyond it, retry later (a fresh upload)
MAX_CHECK_AFTER = timedelta(minutes=5)
LOOKUP_PAGES = 5  # 500 posts since `since`: a publishing account never gets near it
LOOKUP_MARGIN = timedelta(minutes=5)  # our clock and X's may disagree a little

_OAUTH1_FIELDS = ("api_key", "api_secret", "access_token", "access_secret")
_REFRESH_FIELDS = ("oauth2_refresh_token", "client_id", "client_secret", "token_file")
_PLACEHOLDER = re.compile(r"<(media|part):(\d+)>")
_DIGITS = re.compile(r"[0-9]{1,19}")


class XSettings(AccountSettings):
    """One X account: OAuth 1.0a user context (four secrets) or an OAuth 2 user token.

    An OAuth 2 token lasts two hours; with ``oauth2_refresh_token`` (the app asked for
    ``offline.access``) the adapter refreshes it itself. X rotates the refresh token on every
    refresh, so the current pair lives in ``token_file``; the configured pair only seeds it.
    """

    api_key: Secret | None = None
    api_secret: Secret | None = None
    access_token: Secret | None = None
    access_secret: Secret | None = None
    oauth2_token: Secret | None = None
    oauth2_refresh_token: Secret | None = None
    client_id: str | None = None  # the app's OAuth 2.0 Client ID (not a secret)
    client_secret: Secret | None = None  # confidential clients only
    token_file: str | None = None
    api_base: str = "https://api.x.com"
    max_length: int = Field(default=280, ge=MIN_LENGTH_LIMIT)  # paid accounts may post more
    user_id: str | None = Field(default=None, pattern=r"^[0-9]{1,19}$")

    @model_validator(mode="after")
    def _one_credential_set(self) -> XSettings:
        given = [name for name in _OAUTH1_FIELDS if getattr(self, name) is not None]
        if self.oauth2_token is not None and given:
            raise ValueError(
                "set either the OAuth 1.0a keys (api_key, api_secret, access_token, "
                f"access_secret) or oauth2_token, not both (found {', '.join(given)} "
                "and oauth2_token)"
            )
        if self.oauth2_token is None and not given:
            raise ValueError(
                "no X credentials: set api_key, api_secret, access_token and access_secret "
                "(OAuth 1.0a user context) or oauth2_token (OAuth 2 user token)"
            )
        if given and len(given) != len(_OAUTH1_FIELDS):
            missing = [name for name in _OAUTH1_FIELDS if name not in given]
            raise ValueError(
                "OAuth 1.0a needs all of api_key, api_secret, access_token and access_secret "
                f"(missing: {', '.join(missing)})"
            )
        if not self.api_base.startswith(("https://", "http://")):
            raise ValueError(f"api_base must be an http(s) URL, not {self.api_base!r}")
        self._check_refresh()
        return self

    def _check_refresh(self) -> None:
        extras = [name for name in _REFRESH_FIELDS if getattr(self, name) is not None]
        if extras and self.oauth2_token is None:
            raise ValueError(
                f"{', '.join(extras)} only go with oauth2_token (OAuth 2 user context), "
                "not with the OAuth 1.0a keys"
            )
        if self.oauth2_refresh_token is None:
            if extras:
                raise ValueError(
                    f"{', '.join(extras)} only serve to refresh the OAuth 2 token: "
                    "set oauth2_refresh_token too"
                )
            return
        if not (self.client_id or "").strip():
            raise ValueError(
                "oauth2_refresh_token needs client_id (the app's OAuth 2.0 Client ID, from "
                "its Keys and tokens page in the X developer console)"
            )
        if self.token_file is None:
            raise ValueError(
                "oauth2_refresh_token needs token_file: X replaces the refresh token on every "
                "refresh, so the current one must be kept in a file (e.g. "
                "/var/lib/publisher/x-<account>.json)"
            )
        if not Path(self.token_file).is_absolute():
            raise ValueError(f"token_file must be an absolute path, not {self.token_file!r}")


# ---------------------------------------------------------------------------
# Signing and the one HTTP transport.


class _Credentials(Protocol):
    def authorize(
        self, method: str, url: str, query: Sequence[tuple[str, str]], now: datetime
    ) -> tuple[URL, dict[str, str]]:
        """The URL to send (query included) and the Authorization header for it."""
        ...


@dataclass(frozen=True)
class _OAuth1:
    """OAuth 1.0a HMAC-SHA1; JSON and multipart bodies are not signed (RFC 5849 3.4.1.3)."""

    consumer_key: str = field(repr=False)
    consumer_secret: str = field(repr=False)
    token: str = field(repr=False)
    token_secret: str = field(repr=False)

    def authorize(
        self, method: str, url: str, query: Sequence[tuple[str, str]], now: datetime
    ) -> tuple[URL, dict[str, str]]:
        from oauthlib.oauth1 import Client as OAuth1Signer

        signer = OAuth1Signer(
            self.consumer_key,
            client_secret=self.consumer_secret,
            resource_owner_key=self.token,
            resource_owner_secret=self.token_secret,
            timestamp=str(int(now.timestamp())),  # the clock seam, not oauthlib's time.time()
        )
        target = str(URL(url).with_query(list(query))) if query else url
        signed, headers, _ = signer.sign(target, method.upper())
        # As tweepy does: sign the decoded query, send colons escaped, and stop aiohttp from
        # re-encoding what was signed.
        before, mark, rest = signed.partition("?")
        return URL(f"{before}{mark}{rest.replace(':', '%3A')}", encoded=True), {
            "Authorization": headers["Authorization"]
        }


@dataclass(frozen=True)
class _Bearer:
    """An OAuth 2 user-context access token."""

    token: str = field(repr=False)

    def authorize(
        self, method: str, url: str, query: Sequence[tuple[str, str]], now: datetime
    ) -> tuple[URL, dict[str, str]]:
        target = URL(url).with_query(list(query)) if query else URL(url)
        return target, {"Authorization": f"Bearer {self.token}"}


class _ShapeError(ValueError):
    """A 2xx whose JSON is not what the endpoint documents."""


class _Auth(Protocol):
    """Where a request's credentials come from, and who renews them after a 401."""

    async def credentials(self) -> _Credentials:
        """The credentials to send now."""
        ...

    async def renew(self, stale: _Credentials) -> _Credentials | None:
        """Credentials to send again with after ``stale`` met a 401; None: a 401 is final."""
        ...


@dataclass(frozen=True)
class _Fixed:
    """OAuth 1.0a keys, or an OAuth 2 token with no refresh token: nothing to renew."""

    creds: _Credentials

    async def credentials(self) -> _Credentials:
        return self.creds

    async def renew(self, stale: _Credentials) -> _Credentials | None:
        return None


FormFactory = Callable[[], "aiohttp.FormData"]  # a multipart body, built afresh per attempt


def _multipart(
    fields: Mapping[str, str], content: bytes, filename: str, content_type: str
) -> FormFactory:
    """A multipart body with one file part ("media"); aiohttp consumes a FormData when it
    sends it, so a request sent again after a token refresh needs a new one."""

    def build() -> aiohttp.FormData:
        import aiohttp

        form = aiohttp.FormData()
        for name, value in fields.items():
            form.add_field(name, value)
        form.add_field("media", content, filename=filename, content_type=content_type)
        return form

    return build


class _Transport:
    """Signs and sends one request on the engine's session; error statuses raise tweepy's
    exceptions (so tweepy's own calls and our media calls fail the same way)."""

    def __init__(
        self,
        base: str,
        session: aiohttp.ClientSession,
        auth: _Auth,
        timeout: aiohttp.ClientTimeout | None,
        now: Callable[[], datetime],
    ) -> None:
        self.base = base.rstrip("/")
        self.session = session
        self._auth = auth
        self._timeout = timeout
        self._now = now

    async def send(
        self,
        method: str,
        route: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        json_body: Any = None,
        form: FormFactory | None = None,
    ) -> tuple[aiohttp.ClientResponse, bytes]:
        """The (released) response and its body; error statuses raise.

        A 401 created nothing, so the request goes once more if the token could be renewed
        (an expired OAuth 2 token), even a POST /2/tweets.
        """
        credentials = await self._auth.credentials()
        response, body = await self._once(credentials, method, route, query, json_body, form)
        if response.status == 401:
            renewed = await self._auth.renew(credentials)
            if renewed is not None:
                response, body = await self._once(renewed, method, route, query, json_body, form)
        if 200 <= response.status < 300:
            return response, body
        from publisher.adapters.x_client import http_error

        raise http_error(response, body)

    async def _once(
        self,
        credentials: _Credentials,
        method: str,
        route: str,
        query: Sequence[tuple[str, str]],
        json_body: Any,
        form: FormFactory | None,
    ) -> tuple[aiohttp.ClientResponse, bytes]:
        target, headers = credentials.authorize(method, self.base + route, query, self._now())
        headers["User-Agent"] = USER_AGENT
        async with self.session.request(
            method,
            target,
            json=json_body,
            data=form() if form is not None else None,
            headers=headers,
            timeout=self._timeout,
            allow_redirects=False,  # a redirected POST would be replayed as a GET
        ) as response:
            body = await response.read()
        return response, body


# ---------------------------------------------------------------------------
# OAuth 2: refreshing the token, keeping the rotated pair.

TOKEN_ROUTE = "/2/oauth2/token"
REFRESH_AHEAD = timedelta(minutes=1)  # refresh this long before X said the token expires
REFUSED = "account needs attention: refresh token refused"


@dataclass(frozen=True)
class _TokenPair:
    access: str = field(repr=False)
    refresh: str = field(repr=False)
    expires_at: datetime | None = None
    seed: str | None = None  # sha256 of the configured refresh token this pair descends from

    @property
    def bearer(self) -> _Bearer:
        return _Bearer(self.access)


class _TokenFileError(Exception):
    """The token file exists but cannot be used (loose mode, unreadable, not ours)."""


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _read_token_file(path: Path, where: str) -> _TokenPair | None:
    """The pair kept in ``path``; None when there is no file yet.

    The file holds live credentials, so it is refused by the rule (the very check) that
    guards a secret in $CREDENTIALS_DIRECTORY: no group or other access.
    """
    try:
        text = SecretSource({}, path.parent).lookup(path.name, where)
    except PermissionError as err:
        raise _TokenFileError(str(err)) from err
    except (OSError, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__
        raise _TokenFileError(f"{where}: cannot read the token file {path}: {why}") from err
    if text is None:
        return None
    try:
        doc = json.loads(text)
        access, refresh = doc["access_token"], doc["refresh_token"]
        if not (isinstance(access, str) and access and isinstance(refresh, str) and refresh):
            raise ValueError("empty token")
        expires = doc.get("expires_at")
        expires_at = datetime.fromisoformat(expires) if isinstance(expires, str) else None
        if expires_at is not None and expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        seed = doc.get("seed_sha256")
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise _TokenFileError(
            f"{where}: the token file {path} is not a JSON object with access_token and "
            f"refresh_token ({type(err).__name__}); fix or delete it (the configured tokens "
            "are then used)"
        ) from err
    REDACTOR.add(access)
    REDACTOR.add(refresh)
    return _TokenPair(access, refresh, expires_at, seed if isinstance(seed, str) else None)


def _write_token_file(path: Path, pair: _TokenPair, now: datetime) -> None:
    """Replace the file atomically: a crash leaves the old pair or the new one, never half."""
    doc = {
        "access_token": pair.access,
        "refresh_token": pair.refresh,
        "expires_at": pair.expires_at.isoformat() if pair.expires_at else None,
        "seed_sha256": pair.seed,
        "updated_at": now.isoformat(),
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)  # mkstemp's mode already; said out loud
            json.dump(doc, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename must reach the disk too
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


class _Refresher:
    """An account's OAuth 2 pair: refreshed once for all the requests that met a 401, and
    kept in ``token_file`` because X rotates the refresh token on every refresh.

    One per adapter instance; its lock makes concurrent requests wait for the one refresh. A
    config reload builds a second instance on the same file, so before spending the refresh
    token the file is read again: a pair another instance saved meanwhile is taken instead
    (spending a refresh token that was rotated away would cost the account).
    """

    def __init__(self, account: str, settings: XSettings, context: AdapterContext) -> None:
        assert settings.oauth2_token is not None and settings.oauth2_refresh_token is not None
        assert settings.client_id is not None and settings.token_file is not None
        self.account = account
        self._seed_access = settings.oauth2_token
        self._seed_refresh = settings.oauth2_refresh_token
        self._client_id = settings.client_id.strip()
        self._client_secret = settings.client_secret
        self._url = settings.api_base.rstrip("/") + TOKEN_ROUTE
        self._context = context
        self._path = Path(settings.token_file)
        self._where = f"accounts.{account}.token_file"
        self._lock = asyncio.Lock()
        self._pair: _TokenPair | None = None
        self._on_disk: _TokenPair | None = None  # what the file held when last read or written
        self._problem: str | None = None  # why the file cannot be used
        self._refused: str | None = None  # fingerprint of a refresh token X refused
        self._load()

    def _load(self) -> None:
        """Read the file at construction; a refusal is reported on use, not raised here (a
        config reload must not fail over one account)."""
        try:
            kept = _read_token_file(self._path, self._where)
        except _TokenFileError as err:
            self._problem = str(err)
            return
        self._on_disk = kept
        if kept is None:
            return
        seed = self._seed_refresh
        if seed.resolved and kept.seed is not None and kept.seed != _fingerprint(seed.reveal()):
            # The app was authorized again and the new pair configured: it wins.
            log.info(
                "%s: oauth2_refresh_token changed in the configuration; the pair in %s is "
                "replaced at the next refresh",
                self.account,
                self._path,
            )
            return
        self._pair = kept

    def tokens(self) -> tuple[str, ...]:
        return (self._pair.access, self._pair.refresh) if self._pair is not None else ()

    def _current(self) -> _TokenPair:
        if self._problem is not None:
            self._problem = None
            self._load()  # fixed since (chmod 600)? Then no restart is needed.
        if self._problem is not None:
            raise PermanentError(
                f"{self._problem}; account needs attention", attention=Attention.CREDENTIALS
            )
        if self._pair is None:
            try:
                access, refresh = self._seed_access.reveal(), self._seed_refresh.reveal()
            except MissingSecretError as err:
                raise PermanentError(
                    f"{self.account}: {err}", attention=Attention.CREDENTIALS
                ) from err
            self._pair = _TokenPair(access, refresh, None, _fingerprint(refresh))
        return self._pair

    async def credentials(self) -> _Credentials:
        pair = self._current()
        now = self._context.clock.now()
        if pair.expires_at is None or now < pair.expires_at - REFRESH_AHEAD:
            return pair.bearer
        try:
            return await self._renew(pair.access)
        except (TransientError, RateLimitedError):
            if now < pair.expires_at:
                return pair.bearer  # still good for a few seconds; the next request tries again
            raise

    async def renew(self, stale: _Credentials) -> _Credentials | None:
        assert isinstance(stale, _Bearer)
        return await self._renew(stale.token)

    async def _renew(self, stale: str) -> _Bearer:
        async with self._lock:
            pair = self._current()
            if pair.access != stale:
                return pair.bearer  # refreshed while this request was out: just send again
            kept = await self._saved_by_another(stale)
            if kept is not None:
                return kept.bearer
            if _fingerprint(pair.refresh) == self._refused:
                raise PermanentError(
                    f"X refused this OAuth 2 refresh token before: {REFUSED} (authorize the "
                    "app again and configure the new tokens)",
                    attention=Attention.CREDENTIALS,
                )
            fresh = await self._refresh(pair)
            self._pair = fresh
            log.info("%s: X OAuth 2 token refreshed", self.account)
            await self._save(fresh)
            return fresh.bearer

    async def _saved_by_another(self, stale: str) -> _TokenPair | None:
        try:
            kept = await asyncio.to_thread(_read_token_file, self._path, self._where)
        except _TokenFileError as err:
            log.warning("%s: %s", self.account, err)  # the refresh writes it anew
            return None
        if kept is None or kept == self._on_disk or kept.access == stale:
            return None
        self._on_disk = self._pair = kept
        log.info("%s: using the X tokens another instance saved in %s", self.account, self._path)
        return kept

    async def _refresh(self, pair: _TokenPair) -> _TokenPair:
        import aiohttp

        what = "refreshing the OAuth 2 token"
        form = {
            "grant_type": "refresh_token",
            "refresh_token": pair.refresh,
            "client_id": self._client_id,
        }
        headers = {"User-Agent": USER_AGENT}
        if self._client_secret is not None:  # a confidential client: HTTP Basic
            try:
                secret = self._client_secret.reveal()
            except MissingSecretError as err:
                raise PermanentError(
                    f"{self.account}: {err}", attention=Attention.CREDENTIALS
                ) from err
            basic = base64.b64encode(f"{self._client_id}:{secret}".encode()).decode()
            REDACTOR.add(basic)
            headers["Authorization"] = f"Basic {basic}"
        try:
            async with self._context.http().post(
                self._url,
                data=form,
                headers=headers,
                timeout=self._context.timeout,
                allow_redirects=False,
            ) as response:
                raw = await response.read()
                status, answer_headers = response.status, response.headers
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as err:
            raise TransientError(f"cannot reach X while {what}: {type(err).__name__}") from err
        except (TimeoutError, aiohttp.ClientError, OSError) as err:
            # Nothing was posted. If X did rotate, the next refresh is refused: CREDENTIALS.
            raise TransientError(
                f"the connection to X failed while {what} ({type(err).__name__})"
            ) from err
        doc = _json_object(raw)
        if status == 200:
            return self._pair_from(doc, pair, what)
        code = doc.get("error")
        detail = REDACTOR.scrub(code)[:100] if isinstance(code, str) and code else str(status)
        if status == 400:  # invalid_request / invalid_grant: spent, revoked or not ours
            self._refused = _fingerprint(pair.refresh)  # never sent again
            raise PermanentError(
                f"X refused the OAuth 2 refresh token while {what} ({detail}): {REFUSED} "
                "(authorize the app again and configure the new tokens)",
                attention=Attention.CREDENTIALS,
                status=400,
            )
        if status in (401, 403):
            raise PermanentError(
                f"X refused the app's client credentials (client_id, client_secret) while "
                f"{what} ({status} {detail}): account needs attention",
                attention=Attention.CREDENTIALS,
                status=status,
            )
        if status == 429:
            reset = _reset_at(answer_headers, self._context.clock.now())
            when = f" until {reset.isoformat()}" if reset else ""
            raise RateLimitedError(f"X rate limit while {what}{when}", reset_at=reset, status=429)
        if status >= 500:
            raise TransientError(f"X answered {status} while {what}", status=status)
        raise PermanentError(f"X answered {status} while {what} (check api_base)", status=status)

    def _pair_from(self, doc: Mapping[str, Any], old: _TokenPair, what: str) -> _TokenPair:
        access, refresh = doc.get("access_token"), doc.get("refresh_token", old.refresh)
        if not (isinstance(access, str) and access and isinstance(refresh, str) and refresh):
            raise TransientError(f"X gave an unreadable answer while {what}")
        REDACTOR.add(access)
        REDACTOR.add(refresh)
        lifetime = doc.get("expires_in")
        expires_at = None
        if isinstance(lifetime, int) and not isinstance(lifetime, bool) and lifetime > 0:
            expires_at = self._context.clock.now() + timedelta(seconds=lifetime)
        return _TokenPair(access, refresh, expires_at, old.seed)

    async def _save(self, pair: _TokenPair) -> None:
        try:
            await asyncio.to_thread(
                _write_token_file, self._path, pair, self._context.clock.now()
            )
        except OSError as err:
            log.error(
                "%s: cannot save the refreshed X tokens to %s (%s): they are kept in memory "
                "only, and after a restart the account needs a new authorization",
                self.account,
                self._path,
                err.strerror or type(err).__name__,
            )
            return
        self._on_disk = pair


# ---------------------------------------------------------------------------
# Small pure helpers.


def _substitute(value: Any, media_ids: Sequence[str], part_ids: Mapping[int, str]) -> Any:
    """Replace "<media:N>" and "<part:N>" placeholders with ids learnt while publishing."""
    if isinstance(value, str):
        m = _PLACEHOLDER.fullmatch(value)
        if m is None:
            return value
        n = int(m.group(2))
        if m.group(1) == "media":
            return media_ids[n]
        return part_ids[n]
    if isinstance(value, Mapping):
        return {k: _substitute(v, media_ids, part_ids) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_substitute(v, media_ids, part_ids) for v in value]
    return value


def _tweet_kwargs(body: Mapping[str, Any]) -> dict[str, Any]:
    """``create_tweet`` arguments that make tweepy send exactly ``body``."""
    unknown = set(body) - {"text", "media", "reply"}
    if unknown:
        raise PermanentError(f"X payload has fields this adapter cannot send: {sorted(unknown)}")
    kwargs: dict[str, Any] = {"text": body.get("text", "")}
    if "media" in body:
        kwargs["media_ids"] = list(body["media"]["media_ids"])
    if "reply" in body:
        kwargs["in_reply_to_tweet_id"] = body["reply"]["in_reply_to_tweet_id"]
    return kwargs


def _data(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), dict):
        raise _ShapeError("the answer has no data object")
    data: dict[str, Any] = doc["data"]
    return data


def _id_of(doc: Any) -> str:
    value = _data(doc).get("id")
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        raise _ShapeError("the answer has no id")
    return value


def _reset_at(headers: Mapping[str, str], now: datetime) -> datetime | None:
    """When a 429 lifts: the per-window reset, or the 24-hour post cap's when it is spent."""
    candidates: list[datetime] = []
    for prefix in ("x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour"):
        reset = headers.get(f"{prefix}-reset", "").strip()
        remaining = headers.get(f"{prefix}-remaining")
        if not reset.isdigit():
            continue
        if remaining is not None and remaining.strip() != "0" and prefix != "x-rate-limit":
            continue
        candidates.append(datetime.fromtimestamp(int(reset), tz=UTC))
    when = max(candidates, default=None)
    return when if when is not None and when > now else None


def _problem(err: HTTPException) -> str:
    """X's own words for a failure (errors[].message, else detail), without our URL."""
    messages = [m for m in getattr(err, "api_messages", []) if isinstance(m, str) and m]
    status = getattr(err.response, "status", "?")
    reason = getattr(err.response, "reason", "") or ""
    text = "; ".join(dict.fromkeys(messages)) or f"{status} {reason}".strip()
    return REDACTOR.clip(text, 500)


_URLISH = re.compile(r"(?:https?://|www\.)\S+|\b(?:[\w-]+\.)+[a-z]{2,}(?:/\S*)?", re.IGNORECASE)


def normalize_text(text: str) -> str:
    """A post's text as comparable with what X gives back.

    X rewrites links to t.co, appends a t.co link for media and HTML-escapes ``&<>``; anything
    URL-like is dropped on both sides, so a bare domain X linkified compares equal too.
    """
    text = unicodedata.normalize("NFC", html.unescape(text))
    return " ".join(_URLISH.sub(" ", text).split()).casefold()


def _same_post(ours: str, theirs: str) -> bool:
    a, b = normalize_text(ours), normalize_text(theirs)
    if a == b:
        return True
    # A long post (over 280, paid accounts) comes back cut in `text`, the rest being in
    # note_tweet: accept a long shared prefix, for such posts only.
    b = b.rstrip("…").rstrip()
    return x_weighted_length(ours) > 280 and len(b) >= 100 and a.startswith(b)


# ---------------------------------------------------------------------------
# The adapter.


class XAdapter(Adapter):
    network = "x"
    Settings = XSettings

    def __init__(self, account: str, settings: AccountSettings, context: AdapterContext) -> None:
        super().__init__(account, settings, context)
        self._me: str | None = None  # user id learnt from /2/users/me
        s = self._settings
        self._refresher = (
            _Refresher(account, s, context) if s.oauth2_refresh_token is not None else None
        )

    @property
    def _settings(self) -> XSettings:
        assert isinstance(self.settings, XSettings)
        return self.settings

    def capabilities(self) -> Capabilities:
        return Capabilities(
            network="x",
            length=LengthRule(LengthKind.X_WEIGHTED, self._settings.max_length),
            media=MediaLimits(
                max_images=4,
                max_videos=1,
                max_image_bytes=5 * 1024 * 1024,
                max_video_bytes=512 * 1024 * 1024,
                image_types=IMAGE_TYPES,
                video_types=VIDEO_TYPES,
                alt_text_max=1000,
                mix_images_and_video=False,
            ),
            threads=True,
        )

    def build_payload(
        self, text: str, media: Sequence[MediaItem], index: int, total: int, content: PostContent
    ) -> Mapping[str, Any]:
        # X's backend wants "text" even when empty (a media-only post).
        body: dict[str, Any] = {"text": text}
        if media:
            body["media"] = {"media_ids": [f"<media:{i}>" for i in range(len(media))]}
        if index:
            body["reply"] = {"in_reply_to_tweet_id": f"<part:{index - 1}>"}
        return body

    # -- plumbing -----------------------------------------------------------

    def _scrub(self, text: str) -> str:
        return self.scrub(text)  # the token file's tokens were registered when read

    def _credentials(self) -> _Credentials:
        s = self._settings
        try:
            if s.oauth2_token is not None:
                return _Bearer(s.oauth2_token.reveal())
            assert s.api_key and s.api_secret and s.access_token and s.access_secret
            return _OAuth1(
                s.api_key.reveal(),
                s.api_secret.reveal(),
                s.access_token.reveal(),
                s.access_secret.reveal(),
            )
        except MissingSecretError as err:
            raise PermanentError(
                f"{self.account}: {err}", attention=Attention.CREDENTIALS
            ) from err

    def _auth(self) -> _Auth:
        if self._refresher is not None:
            return self._refresher
        return _Fixed(self._credentials())

    def secrets(self) -> tuple[Secret, ...]:
        rotated = self._refresher.tokens() if self._refresher is not None else ()
        return (*super().secrets(), *(Secret("token_file", v) for v in rotated))

    def _transport(self) -> _Transport:
        return _Transport(
            self._settings.api_base,
            self.context.http(),
            self._auth(),
            self.context.timeout,
            self.context.clock.now,
        )

    def _failure(self, err: BaseException, *, what: str, creates: bool) -> AdapterError:
        """Our error for anything a request raised; ``creates``: the request makes a post."""
        if isinstance(err, AdapterError):
            return err
        import aiohttp
        from tweepy.errors import HTTPException, TooManyRequests

        now = self.context.clock.now()
        if isinstance(err, HTTPException):
            status = int(getattr(err.response, "status", 0) or 0)
            detail = self._scrub(_problem(err))
            if isinstance(err, TooManyRequests) or status == 429:
                reset = _reset_at(err.response.headers, now)
                when = f" until {reset.isoformat()}" if reset else ""
                return RateLimitedError(
                    f"X rate limit while {what}{when}", reset_at=reset, status=429
                )
            if status == 401:
                return PermanentError(
                    f"X refused the credentials while {what} (401 {detail}): "
                    "account needs attention",
                    attention=Attention.CREDENTIALS,
                    status=401,
                )
            if status == 403 and DUPLICATE_MARK in detail.casefold():
                if creates:
                    return AmbiguousError(
                        f"X says the post is a duplicate ({detail}): it may already be out",
                        status=403,
                    )
                return PermanentError(f"X refused {what}: {detail}", status=403)
            if status == 403:
                return PermanentError(
                    f"X refused {what} (403): {detail}", attention=Attention.PERMISSION, status=403
                )
            if status in (400, 413, 422):
                return PermanentError(
                    f"X rejected {what}: {detail}", attention=Attention.CONTENT, status=status
                )
            if status >= 500:
                if creates:
                    return AmbiguousError(
                        f"X answered {status} while {what}; the post may exist", status=status
                    )
                return TransientError(f"X answered {status} while {what}", status=status)
            return PermanentError(
                f"X answered {status} while {what} (check api_base): {detail}", status=status
            )
        if isinstance(err, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
            # The connection never opened: the request body cannot have left.
            return TransientError(f"cannot reach X while {what}: {type(err).__name__}")
        if isinstance(err, _ShapeError | ValueError | aiohttp.ContentTypeError):
            why = f"X gave an unreadable answer while {what} ({type(err).__name__})"
        elif isinstance(err, aiohttp.ClientError | asyncio.TimeoutError | OSError):
            why = f"the connection to X failed while {what} ({type(err).__name__})"
        else:
            log.warning("unexpected %s while %s", type(err).__name__, what)
            why = f"unexpected {type(err).__name__} while {what}"
        if creates:
            return AmbiguousError(f"{why}; the post may exist")
        return TransientError(why)

    # -- publishing ---------------------------------------------------------

    async def publish(
        self, rendered: Rendered, ref: DeliveryRef, done: Sequence[RemotePart] = ()
    ) -> Published:
        if rendered.errors:
            raise PermanentError("; ".join(rendered.errors), attention=Attention.CONTENT)
        from publisher.adapters.x_client import XClient

        transport = self._transport()
        client = XClient(transport)
        out = list(done)
        part_ids = {p.index: p.remote_id for p in done}
        total = len(rendered.parts)
        for part in rendered.parts:
            if part.index in part_ids:
                continue
            label = f"part {part.index + 1}/{total}" if total > 1 else "the post"
            try:
                media_ids = [
                    await self._upload(transport, item, f"media {i + 1} of {label}")
                    for i, item in enumerate(part.media)
                ]
                try:
                    body = _substitute(part.payload, media_ids, part_ids)
                except (KeyError, IndexError) as err:
                    raise PermanentError(
                        f"{label}: the thread part it replies to is not out yet"
                    ) from err
                remote = await self._create(client, part.index, body, label)
            except AdapterError as err:
                raise err.with_partial(out)  # noqa: B904 - the same error, now with the parts out
            out.append(remote)
            part_ids[part.index] = remote.remote_id
        return Published(tuple(out))

    async def _create(
        self, client: XClient, index: int, body: Mapping[str, Any], label: str
    ) -> RemotePart:
        kwargs = _tweet_kwargs(body)
        what = f"creating {label}"
        try:
            doc = await client.create_tweet(**kwargs, user_auth=True)
            remote_id = _id_of(doc)
        except Exception as err:
            raise self._failure(err, what=what, creates=True) from err
        return RemotePart(index, remote_id, STATUS_URL.format(id=remote_id))

    # -- media --------------------------------------------------------------

    async def _media_call(
        self,
        transport: _Transport,
        method: str,
        route: str,
        *,
        what: str,
        query: Sequence[tuple[str, str]] = (),
        json_body: Any = None,
        form: FormFactory | None = None,
        empty_ok: bool = False,
    ) -> dict[str, Any]:
        try:
            _, raw = await transport.send(
                method, route, query=query, json_body=json_body, form=form
            )
            if empty_ok and not raw.strip():
                return {}
            doc = json.loads(raw)
            if not isinstance(doc, dict):
                raise _ShapeError("not a JSON object")
            return doc
        except Exception as err:
            raise self._failure(err, what=what, creates=False) from err

    async def _upload(self, transport: _Transport, item: MediaItem, label: str) -> str:
        what = f"uploading {label} ({item.filename})"
        found = await self.read_media(item)
        if item.kind == "image":
            media_id, info = await self._upload_image(transport, item, found, what)
        else:
            media_id, info = await self._upload_chunked(transport, item, found, what)
        await self._await_processing(transport, media_id, info, what)
        if item.alt:
            doc = await self._media_call(
                transport,
                "POST",
                "/2/media/metadata",
                what=f"setting the alt text of {label}",
                json_body={"id": media_id, "metadata": {"alt_text": {"text": item.alt}}},
            )
            try:
                _id_of(doc)
            except _ShapeError as err:
                what = f"setting the alt text of {label}"
                raise self._failure(err, what=what, creates=False) from err
        return media_id

    def _upload_result(self, doc: dict[str, Any], what: str) -> tuple[str, dict[str, Any] | None]:
        try:
            media_id = _id_of(doc)
        except _ShapeError as err:
            raise self._failure(err, what=what, creates=False) from err
        info = _data(doc).get("processing_info")
        return media_id, info if isinstance(info, dict) else None

    async def _upload_image(
        self, transport: _Transport, item: MediaItem, found: MediaFile, what: str
    ) -> tuple[str, dict[str, Any] | None]:
        """One multipart POST /2/media/upload: images are small enough to go at once."""
        form = _multipart(
            {"media_category": "tweet_image"}, found.data, item.filename, found.mime_type
        )
        doc = await self._media_call(transport, "POST", "/2/media/upload", what=what, form=form)
        return self._upload_result(doc, what)

    async def _upload_chunked(
        self, transport: _Transport, item: MediaItem, found: MediaFile, what: str
    ) -> tuple[str, dict[str, Any] | None]:
        """initialize / append (segments) / finalize, for videos and GIFs: segments of the
        bytes read once (``read_media``), never of the file read again."""
        data = memoryview(found.data)
        size = len(data)
        category = "tweet_gif" if item.kind == "gif" else "tweet_video"
        doc = await self._media_call(
            transport,
            "POST",
            "/2/media/upload/initialize",
            what=what,
            json_body={
                "media_type": found.mime_type,
                "total_bytes": size,
                "media_category": category,
            },
        )
        media_id, _ = self._upload_result(doc, what)
        for segment, offset in enumerate(range(0, max(size, 1), CHUNK_BYTES)):
            chunk = bytes(data[offset : offset + CHUNK_BYTES])
            form = _multipart(
                {"segment_index": str(segment)}, chunk, "blob", "application/octet-stream"
            )
            await self._media_call(
                transport,
                "POST",
                f"/2/media/upload/{media_id}/append",
                what=f"{what}, segment {segment}",
                form=form,
                empty_ok=True,
            )
        doc = await self._media_call(
            transport, "POST", f"/2/media/upload/{media_id}/finalize", what=what
        )
        return self._upload_result(doc, what)

    async def _await_processing(
        self, transport: _Transport, media_id: str, info: dict[str, Any] | None, what: str
    ) -> None:
        """Poll STATUS as X asks (check_after_secs), through the clock seam."""
        waited = timedelta(0)
        while info is not None:
            state = info.get("state")
            if state == "succeeded":
                return
            if state == "failed":
                raise PermanentError(
                    f"X could not process the media while {what}", attention=Attention.CONTENT
                )
            if state not in ("pending", "in_progress"):
                raise TransientError(f"X reported processing state {state!r} while {what}")
            after = info.get("check_after_secs")
            seconds = after if isinstance(after, int) and after > 0 else 1
            delay = min(timedelta(seconds=seconds), MAX_CHECK_AFTER)
            if waited + delay > MAX_PROCESSING_WAIT:
                raise TransientError(f"X was still processing after {waited} while {what}")
            await self.context.pause(delay)
            waited += delay
            doc = await self._media_call(
                transport,
                "GET",
                "/2/media/upload",
                what=f"{what} (status)",
                query=[("command", "STATUS"), ("media_id", media_id)],
            )
            _, info = self._upload_result(doc, f"{what} (status)")

    # -- reconciliation and checks -----------------------------------------

    async def _user_id(self, client: XClient) -> str:
        if self._settings.user_id:
            return self._settings.user_id
        if self._me is None:
            self._me = _id_of(await client.get_me(user_auth=True))
        return self._me

    async def lookup(self, ref: DeliveryRef, rendered: Rendered, since: datetime) -> LookupResult:
        """Find the post (and its thread) in the account's timeline since ``since``.

        Absent only when the whole timeline since then was read and the first part is not in
        it. X's timeline can lag a fresh post by seconds: the engine looks up after a delay.
        """
        if not rendered.parts:
            return Unknowable("nothing was rendered")
        from publisher.adapters.x_client import XClient

        try:
            client = XClient(self._transport())
            user_id = await self._user_id(client)
            tweets: list[tuple[int, str]] = []
            token: str | None = None
            complete = False
            for _ in range(LOOKUP_PAGES):
                params: dict[str, Any] = {
                    "start_time": since - LOOKUP_MARGIN,
                    "max_results": 100,
                    "tweet_fields": ["created_at", "text"],
                }
                if token:
                    params["pagination_token"] = token
                doc = await client.get_users_tweets(user_id, user_auth=True, **params)
                if not isinstance(doc, dict):
                    raise _ShapeError("timeline answer is not an object")
                for item in doc.get("data") or []:
                    if not isinstance(item, dict):
                        raise _ShapeError("timeline item is not an object")
                    tid, text = item.get("id"), item.get("text")
                    if isinstance(tid, str) and _DIGITS.fullmatch(tid) and isinstance(text, str):
                        tweets.append((int(tid), text))
                meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
                token = meta.get("next_token") if isinstance(meta, dict) else None
                if not token:
                    complete = True
                    break
        except PermanentError as err:
            return Unknowable(err.reason)
        except Exception as err:
            return Unknowable(self._failure(err, what="reading the timeline", creates=False).reason)
        tweets.sort()
        found: list[RemotePart] = []
        after = -1
        for part in rendered.parts:
            match = next((t for t in tweets if t[0] > after and _same_post(part.text, t[1])), None)
            if match is None:
                break
            found.append(RemotePart(part.index, str(match[0]), STATUS_URL.format(id=match[0])))
            after = match[0]
        if found:
            return Found(Published(tuple(found)))
        if complete:
            return Absent()
        return Unknowable(f"more than {LOOKUP_PAGES * 100} posts since {since.isoformat()}")

    async def check(self) -> AccountCheck:
        from publisher.adapters.x_client import XClient

        try:
            client = XClient(self._transport())
            doc = await client.get_me(user_auth=True)
            data = _data(doc)
            user_id, username = data.get("id"), data.get("username")
            if not isinstance(user_id, str) or not isinstance(username, str):
                raise _ShapeError("no id/username")
        except PermanentError as err:
            return AccountCheck(CheckStatus.ATTENTION, detail=err.reason)
        except Exception as err:
            mapped = self._failure(err, what="checking the account", creates=False)
            return AccountCheck(CheckStatus.ATTENTION, detail=mapped.reason)
        configured = self._settings.user_id
        if configured and configured != user_id:
            return AccountCheck(
                CheckStatus.ATTENTION,
                identity=f"@{username}",
                detail=f"user_id {configured} is set but the credentials are @{username} "
                f"({user_id})",
            )
        self._me = user_id
        return AccountCheck(CheckStatus.OK, identity=f"@{username}")

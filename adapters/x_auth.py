"""X's credentials: OAuth 1.0a signatures, OAuth 2 user tokens, and their refresh.

``XAdapter.authorize`` asks an ``Auth`` for the credentials to send now and has them sign
each attempt (the kit calls it before every attempt, see ``publisher.adapters.transport``):

* OAuth 1.0a (four secrets): HMAC-SHA1 over the method, the URL and its query, with a
  timestamp from the clock seam and a fresh nonce; JSON and multipart bodies are not signed
  (RFC 5849 3.4.1.3). oauthlib is imported only when signing.
* An OAuth 2 user token lasts two hours. Given a refresh token, ``Refresher`` renews it a
  minute before X said it expires and after a 401 (``XAdapter.reauthorize``): under a lock,
  so concurrent requests share one refresh, and the request goes once more, safe even for
  ``POST /2/tweets`` since a 401 created nothing. X rotates the refresh token on every
  refresh, so the current pair is kept in a 0600 ``token_file``; the configured pair only
  seeds it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

from yarl import URL

from publisher.adapters.base import (
    AdapterContext,
    AdapterError,
    Attention,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from publisher.adapters.transport import Answer, Kind, Request, exchange
from publisher.secrets import REDACTOR, MissingSecretError, Secret, SecretSource

log = logging.getLogger("publisher.network.x")

USER_AGENT = "publisher/0.1 (+tweepy)"
TOKEN_ROUTE = "/2/oauth2/token"
REFRESH_AHEAD = timedelta(minutes=1)  # refresh this long before X said the token expires
REFUSED = "account needs attention: refresh token refused"

Classify = Callable[[Answer, Kind], AdapterError]


class Credentials(Protocol):
    def authorize(
        self, method: str, url: str, query: Sequence[tuple[str, str]], now: datetime
    ) -> tuple[URL, dict[str, str]]:
        """The URL to send (query included) and the Authorization header for it."""
        ...


@dataclass(frozen=True)
class OAuth1:
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
class Bearer:
    """An OAuth 2 user-context access token."""

    token: str = field(repr=False)

    def authorize(
        self, method: str, url: str, query: Sequence[tuple[str, str]], now: datetime
    ) -> tuple[URL, dict[str, str]]:
        target = URL(url).with_query(list(query)) if query else URL(url)
        return target, {"Authorization": f"Bearer {self.token}"}


class Auth(Protocol):
    """Where a request's credentials come from, and who renews them after a 401."""

    async def credentials(self) -> Credentials:
        """The credentials to send now."""
        ...

    async def renew(self, refused: str) -> Credentials | None:
        """Credentials to send again with, after the ``Authorization`` header ``refused``
        met a 401; None: a 401 is final."""
        ...


@dataclass(frozen=True)
class Fixed:
    """OAuth 1.0a keys, or an OAuth 2 token with no refresh token: nothing to renew."""

    creds: Credentials

    async def credentials(self) -> Credentials:
        return self.creds

    async def renew(self, refused: str) -> Credentials | None:
        return None


# ---------------------------------------------------------------------------
# OAuth 2: refreshing the token, keeping the rotated pair.


@dataclass(frozen=True)
class TokenPair:
    access: str = field(repr=False)
    refresh: str = field(repr=False)
    expires_at: datetime | None = None
    seed: str | None = None  # sha256 of the configured refresh token this pair descends from

    @property
    def bearer(self) -> Bearer:
        return Bearer(self.access)


class TokenFileError(Exception):
    """The token file exists but cannot be used (loose mode, unreadable, not ours)."""


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def read_token_file(path: Path, where: str) -> TokenPair | None:
    """The pair kept in ``path``; None when there is no file yet.

    The file holds live credentials, so it is refused by the rule (the very check) that
    guards a secret in $CREDENTIALS_DIRECTORY: no group or other access.
    """
    try:
        text = SecretSource({}, path.parent).lookup(path.name, where)
    except PermissionError as err:
        raise TokenFileError(str(err)) from err
    except (OSError, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__
        raise TokenFileError(f"{where}: cannot read the token file {path}: {why}") from err
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
        raise TokenFileError(
            f"{where}: the token file {path} is not a JSON object with access_token and "
            f"refresh_token ({type(err).__name__}); fix or delete it (the configured tokens "
            "are then used)"
        ) from err
    REDACTOR.add(access)
    REDACTOR.add(refresh)
    return TokenPair(access, refresh, expires_at, seed if isinstance(seed, str) else None)


def write_token_file(path: Path, pair: TokenPair, now: datetime) -> None:
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


@dataclass(frozen=True)
class RefreshSettings:
    """What refreshing needs of an account's settings."""

    access: Secret  # the configured pair: the seed
    refresh: Secret
    client_id: str
    client_secret: Secret | None  # a confidential client; None: a public one
    token_url: str
    token_file: Path


class Refresher:
    """An account's OAuth 2 pair: refreshed once for all the requests that met a 401, and
    kept in ``token_file`` because X rotates the refresh token on every refresh.

    One per adapter instance; its lock makes concurrent requests wait for the one refresh. A
    config reload builds a second instance on the same file, so before spending the refresh
    token the file is read again: a pair another instance saved meanwhile is taken instead
    (spending a refresh token that was rotated away would cost the account).

    The token endpoint's answers other than its own (200, 400 refused, 401/403 the client's
    credentials) are the adapter's ``classify``: a 429 waits as X says, a 5xx is transient.
    """

    def __init__(
        self, account: str, settings: RefreshSettings, context: AdapterContext, classify: Classify
    ) -> None:
        self.account = account
        self._seed_access = settings.access
        self._seed_refresh = settings.refresh
        self._client_id = settings.client_id.strip()
        self._client_secret = settings.client_secret
        self._url = settings.token_url
        self._context = context
        self._classify = classify
        self._path = settings.token_file
        self._where = f"accounts.{account}.token_file"
        self._lock = asyncio.Lock()
        self._pair: TokenPair | None = None
        self._on_disk: TokenPair | None = None  # what the file held when last read or written
        self._problem: str | None = None  # why the file cannot be used
        self._refused: str | None = None  # fingerprint of a refresh token X refused
        self._load()

    def _load(self) -> None:
        """Read the file at construction; a refusal is reported on use, not raised here (a
        config reload must not fail over one account)."""
        try:
            kept = read_token_file(self._path, self._where)
        except TokenFileError as err:
            self._problem = str(err)
            return
        self._on_disk = kept
        if kept is None:
            return
        seed = self._seed_refresh
        if seed.resolved and kept.seed is not None and kept.seed != fingerprint(seed.reveal()):
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

    def _current(self) -> TokenPair:
        if self._problem is not None:
            self._problem = None
            self._load()  # fixed since (chmod 600)? Then no restart is needed.
        if self._problem is not None:
            raise PermanentError(
                f"{self._problem}; account needs attention", attention=Attention.CREDENTIALS
            )
        if self._pair is None:
            access, refresh = self._reveal(self._seed_access), self._reveal(self._seed_refresh)
            self._pair = TokenPair(access, refresh, None, fingerprint(refresh))
        return self._pair

    def _reveal(self, secret: Secret) -> str:
        try:
            return secret.reveal()
        except MissingSecretError as err:
            raise PermanentError(f"{self.account}: {err}", attention=Attention.CREDENTIALS) from err

    async def credentials(self) -> Credentials:
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

    async def renew(self, refused: str) -> Credentials | None:
        return await self._renew(refused.removeprefix("Bearer "))

    async def _renew(self, stale: str) -> Bearer:
        async with self._lock:
            pair = self._current()
            if pair.access != stale:
                return pair.bearer  # refreshed while this request was out: just send again
            kept = await self._saved_by_another(stale)
            if kept is not None:
                return kept.bearer
            if fingerprint(pair.refresh) == self._refused:
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

    async def _saved_by_another(self, stale: str) -> TokenPair | None:
        try:
            kept = await asyncio.to_thread(read_token_file, self._path, self._where)
        except TokenFileError as err:
            log.warning("%s: %s", self.account, err)  # the refresh writes it anew
            return None
        if kept is None or kept == self._on_disk or kept.access == stale:
            return None
        self._on_disk = self._pair = kept
        log.info("%s: using the X tokens another instance saved in %s", self.account, self._path)
        return kept

    async def _refresh(self, pair: TokenPair) -> TokenPair:
        what = "refreshing the OAuth 2 token"
        form = {
            "grant_type": "refresh_token",
            "refresh_token": pair.refresh,
            "client_id": self._client_id,
        }
        headers = {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        if self._client_secret is not None:  # a confidential client: HTTP Basic
            secret = self._reveal(self._client_secret)
            basic = base64.b64encode(f"{self._client_id}:{secret}".encode()).decode()
            REDACTOR.add(basic)
            headers["Authorization"] = f"Basic {basic}"
        # Nothing anybody sees is created: a failure is transient. If X did rotate before
        # the answer was lost, the next refresh is refused, which holds the account.
        request = Request(
            "POST", self._url, Kind.UPLOAD, what, data=urlencode(form).encode(), headers=headers
        )
        answer = await exchange(self._context, request, scrub=REDACTOR.scrub)
        status = answer.status
        doc = answer.maybe_json()
        doc = doc if isinstance(doc, dict) else {}
        if status == 200:
            return self._pair_from(doc, pair, what)
        code = doc.get("error")
        detail = REDACTOR.scrub(code)[:100] if isinstance(code, str) and code else str(status)
        if status == 400:  # invalid_request / invalid_grant: spent, revoked or not ours
            self._refused = fingerprint(pair.refresh)  # never sent again
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
        raise self._classify(answer, Kind.UPLOAD)

    def _pair_from(self, doc: Mapping[str, Any], old: TokenPair, what: str) -> TokenPair:
        access, refresh = doc.get("access_token"), doc.get("refresh_token", old.refresh)
        if not (isinstance(access, str) and access and isinstance(refresh, str) and refresh):
            raise TransientError(f"X gave an unreadable answer while {what}")
        REDACTOR.add(access)
        REDACTOR.add(refresh)
        lifetime = doc.get("expires_in")
        expires_at = None
        if isinstance(lifetime, int) and not isinstance(lifetime, bool) and lifetime > 0:
            expires_at = self._context.clock.now() + timedelta(seconds=lifetime)
        return TokenPair(access, refresh, expires_at, old.seed)

    async def _save(self, pair: TokenPair) -> None:
        try:
            await asyncio.to_thread(write_token_file, self._path, pair, self._context.clock.now())
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

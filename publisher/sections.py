"""The sections of publisher.toml as pydantic models: ``[engine]``, ``[retry]``,
``[notify]``, ``[metrics]``, ``[web]``, ``[log]``, ``[lease]``, ``[media]``, ``[feeds]``, and
the duration types they share. ``publisher.config`` reads the file and checks what spans
sections (accounts, references, paths); each section's own rules live here.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from publisher.durations import MAX_DURATION, format_duration, parse_duration
from publisher.secrets import Secret


def _duration(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) else value


def _in_range(value: timedelta) -> timedelta:
    """Numbers (seconds) skip ``parse_duration``; every duration meets the same bounds."""
    if value < timedelta(0):
        raise ValueError("a duration cannot be negative")
    if value > MAX_DURATION:
        raise ValueError(f"too long (at most {format_duration(MAX_DURATION)})")
    return value


def _not_zero(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_in_range)]
# Timeouts and periods: zero would mean "fail at once" or a busy loop, never what was meant.
Period = Annotated[Duration, AfterValidator(_not_zero)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EngineSettings(_Section):
    concurrency: int = Field(default=64, ge=1, le=10_000)
    per_account: int = Field(default=4, ge=1, le=1000)
    shutdown_timeout: Duration = timedelta(seconds=30)
    debounce: Duration = timedelta(milliseconds=300)
    request_timeout: Period = timedelta(seconds=60)
    # How long after an ambiguous answer the network is asked whether the post exists
    # (timelines lag a fresh post).
    resolve_delay: Duration = timedelta(seconds=60)


class RetrySettings(_Section):
    max_attempts: int = Field(default=8, ge=1, le=100)
    base_delay: Duration = timedelta(seconds=30)
    max_delay: Duration = timedelta(hours=1)
    jitter: float = Field(default=0.2, ge=0, le=1)


class NotifySettings(_Section):
    command: list[str] = []
    url: str = ""
    # How long a notify command may run; then its whole process group is killed.
    timeout: Period = timedelta(seconds=30)

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str]) -> list[str]:
        if value and not value[0]:
            raise ValueError("the first item must be the program to run")
        if any("\0" in arg for arg in value):
            raise ValueError("an argument contains a NUL character")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not re.match(r"^https?://[^/\s?#]+(?:[/?#]\S*)?$", value):
            raise ValueError("not an http:// or https:// address")
        return value


class MetricsSettings(_Section):
    listen: str = ""  # "127.0.0.1:9108" turns the health and metrics endpoint on

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        if value:
            parse_listen(value)
        return value


class WebSettings(_Section):
    """``[web]``: the read-only web view (publisher.web) in the daemon."""

    listen: str = ""  # its own listener; empty: on [metrics] listen when `on_metrics`
    on_metrics: bool = False
    token: Secret | None = None  # required for any address but loopback

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        if value:
            parse_listen(value)
        return value


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` (localhost) or ``[IPv6]:PORT``; ValueError says what is wrong."""
    import ipaddress

    example = "e.g. 127.0.0.1:9108, [::1]:9108 or localhost:9108"
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not HOST:PORT with a port from 1 to 65535 ({example})")
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValueError(f"{host} is not an IPv6 address ({example})") from None
        return host[1:-1], int(port)
    if not host:
        return "127.0.0.1", int(port)
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        if not _HOST.match(host) or host.replace(".", "").isdigit():
            raise ValueError(f"{host!r} is not a host name or address ({example})") from None
    return host, int(port)


class LogSettings(_Section):
    format: str = Field(default="text", pattern="^(text|json)$")
    level: str = Field(default="info", pattern="^(debug|info|warning|error)$")


class LeaseSettings(_Section):
    duration: Period = timedelta(seconds=60)
    heartbeat: Period = timedelta(seconds=20)


_HTTP_URL = re.compile(r"^https?://[^/\s?#]+(?:/[^\s?#]*)?$")


def _base_url(value: str) -> str:
    if value and not _HTTP_URL.match(value):
        raise ValueError("not an http:// or https:// address (without ? or #)")
    return value if not value or value.endswith("/") else value + "/"


BaseURL = Annotated[str, AfterValidator(_base_url)]


class S3Settings(_Section):
    """``[media.s3]``: the bucket the daemon uploads public media to (publisher.mediahost).

    Served either from ``public_base_url`` (a public bucket or a CDN in front of it) or by
    presigned GET URLs valid for ``presign``; exactly one of the two.
    """

    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    endpoint_url: BaseURL = ""  # an S3-compatible server (MinIO, R2, ...); empty: AWS
    region: str = Field(default="us-east-1", pattern=r"^[a-z0-9-]{1,40}$")
    access_key_id: Secret
    secret_access_key: Secret
    prefix: str = Field(default="", pattern=r"^(?:[A-Za-z0-9!_.*'()-]+/)*$")
    public_base_url: BaseURL = ""
    presign: Period | None = Field(default=None, le=timedelta(days=7))  # SigV4's limit


class MediaSettings(_Section):
    # Directories editors' media may come from besides the queue file's own (relative paths
    # are relative to this file). See publisher/media.py.
    roots: list[Annotated[str, Field(min_length=1)]] = []
    # The public media host (publisher.mediahost), for networks that fetch media from a URL:
    # a directory the operator serves under ``public_base_url``, or ``[media.s3]``.
    public_dir: str = ""
    public_base_url: BaseURL = ""
    s3: S3Settings | None = None

    def secrets(self) -> list[Secret]:
        return [] if self.s3 is None else [self.s3.access_key_id, self.s3.secret_access_key]


class FeedSource(_Section):
    """One feed the daemon imports on its own (``[[feeds.source]]``)."""

    url: str = Field(min_length=1)
    accounts: list[str] = Field(min_length=1)
    text: str = "{title}\n{link}"
    max: int = Field(default=10, ge=0, le=1000)

    @field_validator("text")
    @classmethod
    def _template(cls, value: str) -> str:
        from publisher.feeds import check_template

        check_template(value)
        return value


class FeedsSettings(_Section):
    # The file the daemon appends feed items to, for the team to review and move into the
    # queue: never the queue itself (nothing is published that a person did not let in).
    into: str = ""
    every: Period = timedelta(hours=1)
    source: list[FeedSource] = []

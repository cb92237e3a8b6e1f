"""Each way a network counts, as the rule its adapter declares, at any limit.

The text tests split and count with these, so they exercise the very rules (counting function
and URL behaviour) the networks render with.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from publisher.adapters.base import AdapterContext, LengthRule
from publisher.adapters.bluesky import BlueskyAdapter, BlueskySettings
from publisher.adapters.facebook import FacebookAdapter, FacebookSettings
from publisher.adapters.linkedin import LinkedInAdapter, LinkedInSettings
from publisher.adapters.log import LogAdapter, LogSettings
from publisher.adapters.mastodon import MastodonAdapter, MastodonSettings
from publisher.adapters.x import XAdapter, XSettings
from publisher.clock import FakeClock
from publisher.secrets import Secret

_CTX = AdapterContext(None, FakeClock(datetime(2026, 12, 1, tzinfo=UTC)))
_TOKEN = Secret("TEXT_RULES_TOKEN", "text-rules-token-0123456789")


def mastodon_adapter(url_length: int = 23) -> MastodonAdapter:
    settings = MastodonSettings(
        instance="https://masto.example", token=_TOKEN, url_length=url_length
    )
    return MastodonAdapter("masto", settings, _CTX)


def declared() -> dict[str, LengthRule]:
    """The rule each network declares (its default limit), from its adapter built for
    rendering only."""
    adapters = (
        XAdapter("x", XSettings(oauth2_token=_TOKEN), _CTX),
        BlueskyAdapter("bsky", BlueskySettings(handle="a.bsky.social", app_password=_TOKEN), _CTX),
        mastodon_adapter(),
        FacebookAdapter("fb", FacebookSettings(page_id="1", page_token=_TOKEN), _CTX),
        LinkedInAdapter("li", LinkedInSettings(author="urn:li:organization:1", token=_TOKEN), _CTX),
        LogAdapter("log", LogSettings(), _CTX),
    )
    return {adapter.network: adapter.capabilities().length for adapter in adapters}


DECLARED = declared()


def x_weighted(limit: int) -> LengthRule:
    """X's rule: twitter-text's weights, every URL 23."""
    return replace(DECLARED["x"], limit=limit)


def graphemes(limit: int) -> LengthRule:
    """Bluesky's rule: grapheme clusters."""
    return replace(DECLARED["bluesky"], limit=limit)


def mastodon(limit: int, url_length: int = 23) -> LengthRule:
    """Mastodon's rule: URLs at the instance's reserved length, ``@user@domain`` as ``@user``."""
    return replace(mastodon_adapter(url_length).capabilities().length, limit=limit)


def chars(limit: int) -> LengthRule:
    """Facebook's and LinkedIn's rule: code points."""
    return replace(DECLARED["facebook"], limit=limit)


EVERY_WAY = (x_weighted, graphemes, mastodon, chars)

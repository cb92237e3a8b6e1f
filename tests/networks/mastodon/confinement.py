"""Mastodon in the media-confinement test."""

from __future__ import annotations

from publisher.adapters.mastodon import MastodonAdapter, MastodonSettings
from publisher.secrets import Secret
from tests.networks.confinement import Network
from tests.networks.mastodon.server import MastodonServer

MASTODON_TOKEN = "masto-SECRET-token-5c1e0b7d"

NETWORKS = [
    Network(
        "mastodon", "brand-masto", "png", False,
        lambda clock: MastodonServer(clock=clock, token=MASTODON_TOKEN),
        lambda s, url, ctx: MastodonAdapter(
            "brand-masto",
            MastodonSettings(instance=url, token=Secret("MASTODON_TOKEN", MASTODON_TOKEN)),
            ctx,
        ),
        lambda s: [m.data for m in s.media.values()], lambda s: len(s.statuses),
    ),
]

"""Discord in the media-confinement test: an attached image, and a link card's thumb."""

from __future__ import annotations

from publisher.adapters.base import AdapterContext
from publisher.adapters.discord import DiscordAdapter, DiscordSettings
from publisher.secrets import Secret
from tests.networks.confinement import Network
from tests.networks.discord.server import DiscordServer

DC_TOKEN = "SECRET-confinement-webhook-token-5c1e0b7d"
HOOK = "1187654321098765432"


def _adapter(server: DiscordServer, url: str, ctx: AdapterContext) -> DiscordAdapter:
    hook = f"{url}/api/webhooks/{HOOK}/{DC_TOKEN}"
    return DiscordAdapter("brand-dc", DiscordSettings(webhook_url=Secret("DC_WEBHOOK", hook)), ctx)


NETWORKS = [
    Network(
        "discord",
        "brand-dc",
        ext,
        thumb,
        lambda clock: DiscordServer(webhook_id=HOOK, token=DC_TOKEN, now=clock.now),
        _adapter,
        lambda s: [f[2] for m in s.messages for f in m.files.values()],
        lambda s: len(s.messages),
    )
    for ext, thumb in (("png", False), ("jpg", True))
]

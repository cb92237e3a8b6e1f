"""X in the media-confinement test: an image, and a GIF (uploaded in segments)."""

from __future__ import annotations

from publisher.adapters.base import Adapter, AdapterContext
from publisher.adapters.x import XAdapter, XSettings
from publisher.secrets import Secret
from tests.networks.confinement import Network
from tests.networks.x.server import XServer


def _x(server: XServer, url: str, context: AdapterContext) -> Adapter:
    creds = {
        "api_key": server.consumer_key,
        "api_secret": server.consumer_secret,
        "access_token": server.access_token,
        "access_secret": server.access_secret,
    }
    secrets = {k: Secret(f"X_{k.upper()}", v) for k, v in creds.items()}
    return XAdapter("brand-x", XSettings(**secrets, api_base=url), context)


def _x_media(server: XServer) -> list[bytes]:
    return [m.content for m in server.media.values()] + [
        s for m in server.media.values() for s in m.segments.values()
    ]


NETWORKS = [
    Network(
        "x", "brand-x", "png", False,
        lambda clock: XServer(now=clock.now),
        _x, _x_media, lambda s: len(s.created),
    ),
    Network(  # GIFs go up in segments (INIT/APPEND/FINALIZE): another read path
        "x", "brand-x", "gif", False,
        lambda clock: XServer(now=clock.now, processing_polls=0),
        _x, _x_media, lambda s: len(s.created),
    ),
]

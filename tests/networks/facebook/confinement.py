"""Facebook in the media-confinement test."""

from __future__ import annotations

from publisher.adapters.facebook import FacebookAdapter, FacebookSettings
from publisher.secrets import Secret
from tests.networks.confinement import Network
from tests.networks.facebook.server import GraphServer

FB_TOKEN = "EAAG-SECRET-page-token-9b7e21"

NETWORKS = [
    Network(
        "facebook", "brand-fb", "jpg", False,
        lambda clock: GraphServer(page_id="1234567890", token=FB_TOKEN, now=clock.now),
        lambda s, url, ctx: FacebookAdapter(
            "brand-fb",
            FacebookSettings(
                page_id="1234567890", page_token=Secret("FB_TOKEN", FB_TOKEN), api_base=url
            ),
            ctx,
        ),
        lambda s: [p.data for p in s.photos.values()], lambda s: len(s.posts),
    ),
]

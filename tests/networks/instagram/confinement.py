"""Instagram in the media-confinement test: the file is read beneath its root before the
media host (a real ``DirectoryHost``) ever sees it."""

from __future__ import annotations

from publisher.adapters.instagram import InstagramAdapter, InstagramSettings
from publisher.secrets import Secret
from tests.networks.confinement import Network
from tests.networks.container_harness import public_files, with_host
from tests.networks.instagram.server import InstagramServer

TOKEN = "EAAG-SECRET-ig-token-2d9a"

NETWORKS = [
    Network(
        "instagram",
        "brand-ig",
        "jpg",
        False,
        lambda clock: InstagramServer(token=TOKEN, now=clock.now, processing_polls=0),
        lambda s, url, ctx: InstagramAdapter(
            "brand-ig",
            InstagramSettings(user_id=s.user_id, token=Secret("IG_TOKEN", TOKEN), api_base=url),
            with_host(url, ctx),
        ),
        lambda s: [b for c in s.containers.values() for b in c.fetched] + public_files(),
        lambda s: len(s.posts),
    ),
]

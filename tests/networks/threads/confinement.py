"""Threads in the media-confinement test: the file is read beneath its root before the media
host (a real ``DirectoryHost``) ever sees it."""

from __future__ import annotations

from publisher.adapters.threads import ThreadsAdapter, ThreadsSettings
from publisher.secrets import Secret
from tests.networks.confinement import Network
from tests.networks.container_harness import public_files, with_host
from tests.networks.threads.server import ThreadsServer

TOKEN = "THAA-SECRET-threads-token-5f1c"

NETWORKS = [
    Network(
        "threads",
        "brand-threads",
        ext,
        False,
        lambda clock: ThreadsServer(token=TOKEN, now=clock.now, processing_polls=0),
        lambda s, url, ctx: ThreadsAdapter(
            "brand-threads",
            ThreadsSettings(user_id=s.user_id, token=Secret("THREADS_TOKEN", TOKEN), api_base=url),
            with_host(url, ctx),
        ),
        lambda s: [b for c in s.containers.values() for b in c.fetched] + public_files(),
        lambda s: len(s.posts),
    )
    for ext in ("png", "jpg")
]

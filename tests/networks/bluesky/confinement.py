"""Bluesky in the media-confinement test: an image, and a link card's thumb.

The reference PDS needs Node (``pds`` tests); the upload path is driven here against a
small XRPC server of our own, which records every blob it is given.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from publisher.adapters.base import Adapter, AdapterContext
from publisher.adapters.bluesky import BlueskyAdapter, BlueskySettings
from publisher.secrets import Secret
from publisher.testing import LocalServer
from tests.networks.bluesky import harness as harness_bluesky
from tests.networks.confinement import Network


class BlobPds:
    """A PDS that takes blobs: what the Bluesky adapter needs to get as far as an upload."""

    def __init__(self) -> None:
        self.blobs: list[bytes] = []
        self.records: list[dict[str, Any]] = []
        self.url = ""
        self._server: LocalServer | None = None

    async def _upload_blob(self, request: web.Request) -> web.StreamResponse:
        data = await request.read()
        self.blobs.append(data)
        ref = {"$link": f"bafkreiblob{len(self.blobs):04d}"}
        return web.json_response(
            {"blob": {"$type": "blob", "ref": ref, "mimeType": request.content_type,
                      "size": len(data)}}
        )

    async def _create_record(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.records.append(body)
        uri = f"at://{harness_bluesky.DID}/app.bsky.feed.post/{body['rkey']}"
        return web.json_response({"uri": uri, "cid": "bafyreirecord0001"})

    async def __aenter__(self) -> BlobPds:
        app = web.Application()
        xrpc = "/xrpc/com.atproto."
        app.router.add_post(xrpc + "server.createSession", harness_bluesky._create_session)
        app.router.add_post(xrpc + "server.refreshSession", harness_bluesky._refresh_session)
        app.router.add_get(xrpc + "repo.getRecord", harness_bluesky._get_record)
        app.router.add_post(xrpc + "repo.uploadBlob", self._upload_blob)
        app.router.add_post(xrpc + "repo.createRecord", self._create_record)
        self._server = LocalServer(app)
        self.url = await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.stop()


def _bluesky(server: BlobPds, url: str, context: AdapterContext) -> Adapter:
    settings = BlueskySettings(
        pds=url, handle=harness_bluesky.HANDLE, app_password=Secret("BSKY", "app-pw-1234")
    )
    return BlueskyAdapter("brand-bsky", settings, context)


NETWORKS = [
    Network(
        "bluesky", "brand-bsky", "png", False,
        lambda clock: BlobPds(), _bluesky, lambda s: s.blobs, lambda s: len(s.records),
    ),
    Network(
        "bluesky", "brand-bsky", "png", True,
        lambda clock: BlobPds(), _bluesky, lambda s: s.blobs, lambda s: len(s.records),
    ),
]

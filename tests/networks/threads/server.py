"""A strict local Threads API: the shared container server in Threads' dialect
(developers.facebook.com/docs/threads/posts, .../threads/reference/publishing).

``POST /{user-id}/threads`` (``media_type`` TEXT, IMAGE, VIDEO, CAROUSEL with up to 20
``children``; ``text``, ``alt_text``, ``reply_to_id``, ``is_carousel_item``),
``GET /{container}?fields=status,error_message``, ``POST /{user-id}/threads_publish``,
``GET /{user-id}/threads_publishing_limit``, ``GET /{user-id}/threads`` and
``GET /{user-id}/replies`` (with ``replied_to``), ``GET /{media-id}?fields=permalink``,
``GET /me?fields=id,username``. A first comment is a reply to the post like any other.
Injection endpoints: "container", "status", "publish" ("reply publish": a reply's publish
only, taken before "publish"), "limit", "list", "replies", "permalink", "me".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.networks.container_listen import ListeningServer
from tests.networks.containers import Dialect

THREADS = Dialect(
    name="threads",
    create="threads",
    publish="threads_publish",
    limit="threads_publishing_limit",
    status_field="status",
    detail_field="error_message",
    text_field="text",
    fields=frozenset(
        {
            "media_type",
            "text",
            "image_url",
            "video_url",
            "alt_text",
            "is_carousel_item",
            "children",
            "reply_to_id",
        }
    ),
    media_types=frozenset({"TEXT", "IMAGE", "VIDEO", "CAROUSEL"}),
    child_types=frozenset({"IMAGE", "VIDEO"}),
    image_types=frozenset({"image/jpeg", "image/png"}),
    # Threads counts emoji by their UTF-8 bytes: a text of 500 code points or fewer may still
    # be too long, which the adapter checks; the server only bounds code points (and bytes).
    max_text=500,
    max_children=20,
    quota_total=250,
    list_fields=frozenset({"id", "text", "timestamp", "permalink"}),
    me_path="me",
    me_fields=frozenset({"id", "username"}),
    permalink_base="https://www.threads.com/@brand/post",
    debug_token=False,
    video_alt=True,
)


@dataclass
class ThreadsServer(ListeningServer):
    dialect: Dialect = field(default=THREADS)
    user_id: str = "26000000000000001"
    token: str = "THAA-threads-token-for-tests-3c4d"
    version: str = "v1.0"

"""A strict local Instagram Graph API (content publishing): the shared container server in
Instagram's dialect (developers.facebook.com/docs/instagram-platform/content-publishing).

``POST /{ig-user-id}/media`` (``image_url`` + ``alt_text``; ``media_type=REELS`` +
``video_url``; ``is_carousel_item`` children, ``VIDEO`` for a video; ``CAROUSEL`` with
``children``; ``caption``), ``GET /{container}?fields=status_code,status``,
``POST /{ig-user-id}/media_publish``, ``GET /{ig-user-id}/content_publishing_limit``,
``GET /{ig-user-id}/media`` (recent media), ``GET /{media-id}?fields=permalink``,
``GET /{ig-user-id}?fields=username``, and a media's comments: ``POST /{ig-media-id}/comments``
(``message``) and ``GET /{ig-media-id}/comments`` (``id,text,username,timestamp``). Injection
endpoints: "container", "status", "publish", "limit", "list", "permalink", "me", "comment",
"comments".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.networks.container_listen import ListeningServer
from tests.networks.containers import Dialect

INSTAGRAM = Dialect(
    name="instagram",
    create="media",
    publish="media_publish",
    limit="content_publishing_limit",
    status_field="status_code",
    detail_field="status",
    text_field="caption",
    fields=frozenset(
        {
            "image_url",
            "video_url",
            "media_type",
            "caption",
            "alt_text",
            "is_carousel_item",
            "children",
        }
    ),
    media_types=frozenset({"REELS", "CAROUSEL"}),
    child_types=frozenset({"VIDEO"}),
    image_types=frozenset({"image/jpeg"}),
    max_text=2_200,
    max_children=10,
    quota_total=50,
    list_fields=frozenset({"id", "caption", "timestamp", "permalink"}),
    me_path="{user}",
    me_fields=frozenset({"id", "username"}),
    permalink_base="https://www.instagram.com",
    debug_token=True,
    video_alt=False,
    max_comment=2_200,
)


@dataclass
class InstagramServer(ListeningServer):
    dialect: Dialect = field(default=INSTAGRAM)
    user_id: str = "17841400000000001"
    token: str = "EAAG-ig-token-for-tests-1a2b"
    version: str = "v23.0"

"""LinkedIn in the media-confinement test: an image, and a link card's thumb."""

from __future__ import annotations

from publisher.adapters.base import Adapter, AdapterContext
from publisher.adapters.linkedin import LinkedInAdapter, LinkedInSettings
from publisher.secrets import Secret
from tests.networks.confinement import Network
from tests.networks.linkedin.server import LinkedInServer

LI_TOKEN = "AQV-SECRET-linkedin-token-51c0de"
LI_ORG = "urn:li:organization:5515715"


def _linkedin(server: LinkedInServer, url: str, context: AdapterContext) -> Adapter:
    settings = LinkedInSettings(author=LI_ORG, token=Secret("LI_TOKEN", LI_TOKEN), api_base=url)
    return LinkedInAdapter("brand-li", settings, context)


NETWORKS = [
    Network(
        "linkedin", "brand-li", "jpg", False,
        lambda clock: LinkedInServer(author=LI_ORG, token=LI_TOKEN, now=clock.now),
        _linkedin, lambda s: [i.data or b"" for i in s.images.values()], lambda s: len(s.posts),
    ),
    Network(
        "linkedin", "brand-li", "png", True,
        lambda clock: LinkedInServer(author=LI_ORG, token=LI_TOKEN, now=clock.now),
        _linkedin, lambda s: [i.data or b"" for i in s.images.values()], lambda s: len(s.posts),
    ),
]

"""``publisher accounts connect``: each network's authorization flow for a native app, ending
with credentials where the account's ``${NAME}`` references find them. Never run by the daemon.

The flows are looked up by network name (``FLOWS``); each is data (its outputs and scopes) and
one async function (``publisher.connect.flow``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from publisher.connect.flow import Flow
from publisher.connect.meta import FACEBOOK_FLOW, INSTAGRAM_FLOW, THREADS_FLOW
from publisher.connect.oauth_nets import LINKEDIN_FLOW, MASTODON_FLOW, X_FLOW
from publisher.connect.pasted import BLUESKY_FLOW, DISCORD_FLOW, TELEGRAM_FLOW

FLOWS: Mapping[str, Flow] = MappingProxyType(
    {
        flow.network: flow
        for flow in (
            X_FLOW,
            MASTODON_FLOW,
            LINKEDIN_FLOW,
            FACEBOOK_FLOW,
            INSTAGRAM_FLOW,
            THREADS_FLOW,
            BLUESKY_FLOW,
            TELEGRAM_FLOW,
            DISCORD_FLOW,
        )
    }
)

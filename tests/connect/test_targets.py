"""Where obtained values go: references get them, literals are compared and never written, a
secret written literally is refused before the flow; and the LinkedIn expiry the connect
stores reaches the adapter's expiry warning."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from publisher.adapters.base import AdapterContext
from publisher.adapters.linkedin import LinkedInAdapter
from publisher.clock import FakeClock
from publisher.config import SecretPolicy, load_config
from publisher.connect import FLOWS
from publisher.connect.flow import Account, ConnectError, Granted, Obtained
from publisher.connect.targets import place, plan
from publisher.connect.vault import store
from publisher.secrets import SecretSource
from tests.conftest import T0, Project
from tests.connect.kit import account


def obtained(**values: str) -> Obtained:
    return Obtained(values, Granted((), None), "someone")


def test_references_literals_and_absent_plain_values() -> None:
    acct = account("facebook", {"page_id": "101", "page_token": "${FB_TOKEN}"})
    targets = plan(acct, FLOWS["facebook"])
    same = place(acct, targets, obtained(page_token="tok-0123456789", page_id="101"))
    assert same.values == {"FB_TOKEN": "tok-0123456789"} and same.notes == ()
    other = place(acct, targets, obtained(page_token="tok-0123456789", page_id="202"))
    assert other.values == {"FB_TOKEN": "tok-0123456789"}
    assert other.notes == (
        "accounts.brand.page_id is '101' in publisher.toml but the network gave '202': "
        "change it there",
    )
    absent = account("facebook", {"page_token": "${FB_TOKEN}"})
    placed = place(absent, plan(absent, FLOWS["facebook"]), obtained(page_id="303"))
    assert placed.notes == ('add page_id = "303" to [accounts.brand]',)


def test_a_secret_written_literally_or_missing_is_refused_before_the_flow() -> None:
    literal = account("mastodon", {"instance": "https://m.example", "token": "abc-0123456789"})
    with pytest.raises(ConnectError, match=r'write token = "\$\{BRAND_TOKEN\}" instead'):
        plan(literal, FLOWS["mastodon"])
    missing = account("x", {"client_id": "abc"})
    with pytest.raises(ConnectError, match=r'add oauth2_token = "\$\{BRAND_OAUTH2_TOKEN\}"'):
        plan(missing, FLOWS["x"])
    # An optional one absent: the value is not stored, and the operator is told.
    acct = account("x", {"client_id": "abc", "oauth2_token": "${X_TOKEN}"})
    placed = place(acct, plan(acct, FLOWS["x"]), obtained(oauth2_refresh_token="r-0123456789"))
    assert placed.values == {}
    assert "not stored: oauth2_refresh_token" in placed.notes[0]


def test_every_network_with_a_flow_has_its_outputs_and_scopes_as_data() -> None:
    assert set(FLOWS) == {
        "x",
        "mastodon",
        "linkedin",
        "facebook",
        "instagram",
        "threads",
        "bluesky",
        "telegram",
        "discord",
    }
    for flow in FLOWS.values():
        assert flow.outputs and any(o.secret for o in flow.outputs)


def test_the_stored_linkedin_expiry_reaches_the_warning(project: Project, tmp_path: Path) -> None:
    project.accounts = {
        "pro": {
            "network": "linkedin",
            "author": "urn:li:organization:1",
            "token": "${LI_TOKEN}",
            "token_expires": "${LI_EXPIRES}",
        }
    }
    project.write_config()
    creds = tmp_path / "creds"
    store(creds, {"LI_TOKEN": "li-token-0123456789"})
    before = load_config(
        project.config_path, secrets=SecretPolicy.WARN, source=SecretSource({}, creds)
    )
    assert before.accounts["pro"].settings.expires_at is None  # type: ignore[attr-defined]
    expires = T0 + timedelta(days=5)
    store(creds, {"LI_EXPIRES": expires.isoformat()})
    config = load_config(
        project.config_path, secrets=SecretPolicy.REQUIRE, source=SecretSource({}, creds)
    )
    settings = config.accounts["pro"].settings
    adapter = LinkedInAdapter("pro", settings, AdapterContext(None, FakeClock(T0)))
    assert adapter.expiry_warning(T0) is not None and "expires" in (
        adapter.expiry_warning(T0) or ""
    )


def test_a_loose_secret_file_is_refused_as_the_daemon_refuses_it(tmp_path: Path) -> None:
    store(tmp_path, {"LI_SECRET": "li-secret-0123456789"})
    (tmp_path / "LI_SECRET").chmod(0o644)
    acct = Account(
        "brand",
        "linkedin",
        {"network": "linkedin", "client_secret": "${LI_SECRET}"},
        SecretSource({}, tmp_path),
        Path("publisher.toml"),
    )
    with pytest.raises(ConnectError, match="readable by group or others"):
        acct.needs("client_secret", "to authorize")

"""A network that fetches media from a public URL (Instagram, Threads) without a [media]
host: the config says so, at the account, as a warning (posts without media still go)."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.config import SecretPolicy, load_config
from publisher.diagnostics import Severity

BASE = """\
queue = "queue.yaml"
timezone = "UTC"

[accounts.brand-log]
network = "log"

[accounts.brand-{network}]
network = "{network}"
user_id = "1"
token = "${{TOKEN}}"
"""

HOST = """
[media]
public_dir = "public"
public_base_url = "https://media.example.org/p/"
"""


@pytest.mark.parametrize("network", ["instagram", "threads"])
def test_no_media_host_is_a_warning_at_the_account(tmp_path: Path, network: str) -> None:
    path = tmp_path / "publisher.toml"
    path.write_text(BASE.format(network=network), encoding="utf-8")
    config = load_config(path, secrets=SecretPolicy.WARN)
    [warning] = [w for w in config.warnings if "public URL" in w.message]
    assert warning.severity is Severity.WARNING
    assert warning.field == f"accounts.brand-{network}" and warning.line == 7
    assert "[media] host" in str(warning)

    path.write_text(BASE.format(network=network) + HOST, encoding="utf-8")
    config = load_config(path, secrets=SecretPolicy.WARN)
    assert not [w for w in config.warnings if "public URL" in w.message]

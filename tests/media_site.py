"""A queue file's directory with media, and a secret beside it: the ground of item 1's tests."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.broken_cases import FIXTURES

PNG = (FIXTURES / "pixel.png").read_bytes()
JPEG = (FIXTURES / "pixel.jpg").read_bytes()
SECRET = b"\x89PNG\r\n\x1a\n" + b"SECRET-token-7c1f2a9e-out-of-the-root"  # looks like a PNG


@dataclass
class Site:
    """A queue file's directory with its media, a secret outside it, and a config."""

    root: Path  # the queue file's directory (the default media root)
    outside: Path  # a directory beside it, which holds the secret
    config: Path

    @property
    def queue(self) -> Path:
        return self.root / "queue.yaml"

    def write_queue(
        self, media: list[str], thumb: str | None = None, at: str = "2026-12-01 09:00"
    ) -> None:
        lines = [
            "posts:",
            "  - id: p1",
            f"    at: {at}",
            "    accounts: [brand]",
            "    text: Les soldes",
        ]
        if media:
            lines.append("    media:")
            lines += [f"      - file: {f!r}" for f in media]
        if thumb is not None:
            lines.append(f"    link: {{url: 'https://example.com', thumb: {thumb!r}}}")
        self.queue.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def run(self, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "publisher.cli", command, "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=120,  # a guard against a hang, not a limit on how fast a command is
            cwd=self.root,
        )

    def validate(self) -> tuple[int, str]:
        r = self.run("validate")
        return r.returncode, r.stdout + r.stderr


def make_site(tmp_path: Path) -> Site:
    root = tmp_path / "editors"
    (root / "media").mkdir(parents=True)
    (root / "media" / "real.png").write_bytes(PNG)
    outside = tmp_path / "server"
    outside.mkdir()
    (outside / "token.png").write_bytes(SECRET)
    (outside / "folder.png").mkdir()
    config = root / "publisher.toml"
    config.write_text(
        'timezone = "UTC"\nqueue = "queue.yaml"\n[accounts.brand]\nnetwork = "log"\n',
        encoding="utf-8",
    )
    return Site(root, outside, config)

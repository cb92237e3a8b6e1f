"""Item 1 of issue 19: media confined to its roots, and errors that say nothing outside them.

``publisher validate`` runs as a real process on real files. The opener alone is tested in
test_media_open.py, what each network receives in tests/networks/test_media_confinement.py.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.media_site import JPEG, PNG, Site, make_site


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return make_site(tmp_path)


def media_errors(output: str) -> list[str]:
    """The `file:line:col: field: message` lines about media, as validate printed them."""
    return [line for line in output.splitlines() if ".media[" in line or ".thumb" in line]


# What the old diagnostics told an editor about a server path.
REVEALING = (
    "no such file",
    "not a file",
    "a directory",
    "is empty",
    "cannot read",
    "cannot tell",
    "Permission",
    "looked for",
)


def assert_reveals_nothing(site: Site, lines: list[str]) -> None:
    for line in lines:
        assert str(site.outside) not in line and "server" not in line, line
        assert not any(word in line for word in REVEALING), line


# ---------------------------------------------------------------------------
# Validation: absolute paths, `..` escapes, links out.


def test_item1_validate_refuses_absolute_paths_the_same_whether_they_exist_or_not(
    site: Site,
) -> None:
    existing = str(site.outside / "token.png")  # a real PNG: it would pass every other check
    missing = str(site.outside / "nothing-here.png")
    folder = str(site.outside / "folder.png")
    site.write_queue([existing, missing, folder, "/proc/self/environ"])
    code, out = site.validate()
    assert code == 1, out
    raws = [existing, missing, folder, "/proc/self/environ"]
    lines = media_errors(out)
    assert len(lines) == 4, out
    for line in lines:
        assert re.match(r"^.*queue\.yaml:\d+:\d+: posts\[0\]\.media\[\d\]\.file: ", line), line
        assert "media must be inside the queue file's directory" in line, line
        assert "absolute path" in line, line
        assert not any(word in line for word in REVEALING), line
    # The same message for all of them but the path the editor wrote.
    shapes = {
        line.split(": ", 2)[2].replace(raw, "PATH") for line, raw in zip(lines, raws, strict=True)
    }
    assert len(shapes) == 1, shapes


def test_item1_validate_refuses_dotdot_escapes_the_same_whether_they_exist_or_not(
    site: Site,
) -> None:
    escapes = ["../server/token.png", "../server/nothing.png", "media/../../server/folder.png"]
    site.write_queue(escapes, thumb="../../etc/passwd")
    code, out = site.validate()
    assert code == 1, out
    lines = media_errors(out)
    assert len(lines) == 4, out
    assert_reveals_nothing(site, [line.replace("../server/", "../X/") for line in lines])
    for line in lines:
        assert "media must be inside the queue file's directory" in line, line
    fields = [line.split(": ")[1] for line in lines]
    assert fields == [
        "posts[0].media[0].file",
        "posts[0].media[1].file",
        "posts[0].media[2].file",
        "posts[0].link.thumb",
    ]


def test_item1_validate_refuses_a_link_out_of_the_root_whatever_lies_there(site: Site) -> None:
    media = site.root / "media"
    os.symlink(site.outside / "token.png", media / "a.png")  # exists, a PNG
    os.symlink(site.outside / "gone.png", media / "b.png")  # does not exist
    os.symlink(site.outside / "folder.png", media / "c.png")  # a directory
    os.symlink("../../server/token.png", media / "d.png")  # relative, out through ..
    os.symlink("/proc/self/environ", media / "e.png")
    names = [f"media/{n}.png" for n in "abcde"]
    site.write_queue(names, thumb="media/a.png")
    code, out = site.validate()
    assert code == 1, out
    lines = media_errors(out)
    assert len(lines) == 6, out
    assert_reveals_nothing(site, lines)
    shapes = {re.sub(r"media/[a-e]\.png", "NAME", line.split(": ", 2)[2]) for line in lines}
    assert shapes == {"NAME is a link that leads out of its media root"}, shapes
    for line in lines:
        assert re.match(r"^.*queue\.yaml:\d+:\d+: posts\[0\]\.", line), line


def test_media_links_that_stay_inside_the_root_are_followed(site: Site) -> None:
    media = site.root / "media"
    (site.root / "photos").mkdir()
    (site.root / "photos" / "b.jpg").write_bytes(JPEG)
    os.symlink("real.png", media / "a.png")
    os.symlink("../photos/b.jpg", media / "b.jpg")
    os.symlink(site.root / "photos" / "b.jpg", media / "c.jpg")  # absolute, into the root
    os.symlink(site.root / "photos", media / "album")  # a directory link inside
    site.write_queue(["media/a.png", "media/b.jpg", "media/c.jpg", "media/album/b.jpg"])
    code, out = site.validate()
    assert code == 0, out


def test_media_loops_fifos_and_folders_are_refused_without_hanging(site: Site) -> None:
    media = site.root / "media"
    os.symlink("loop2.png", media / "loop1.png")
    os.symlink("loop1.png", media / "loop2.png")
    os.mkfifo(media / "pipe.png")
    site.write_queue(["media/loop1.png", "media/pipe.png", "media"])
    code, out = site.validate()  # a FIFO opened for reading would block forever
    assert code == 1, out
    lines = media_errors(out)
    assert "too many links" in lines[0]
    assert "media/pipe.png is not a file" in lines[1]
    assert "media is not a file" in lines[2]


def test_media_roots_configured_by_the_operator(site: Site) -> None:
    brand = site.root.parent / "brand-assets"
    brand.mkdir()
    (brand / "logo.png").write_bytes(PNG)
    site.config.write_text(
        site.config.read_text() + '[media]\nroots = ["../brand-assets"]\n', encoding="utf-8"
    )
    site.write_queue(["../brand-assets/logo.png"])
    assert site.validate()[0] == 0
    site.write_queue(["../server/token.png"])
    code, out = site.validate()
    assert code == 1
    assert "media must be inside the queue file's directory or ../brand-assets" in out
    assert_reveals_nothing(site, [s.replace("../server/", "../X/") for s in media_errors(out)])


def test_item1_dry_run_shows_the_editors_paths_never_a_server_path(site: Site) -> None:
    """What dry-run prints of a file (and of a card's thumb in a payload) is the path as the
    editor wrote it, never where it lies on the server."""
    site.config.write_text(
        'timezone = "UTC"\nqueue = "queue.yaml"\n[accounts.brand]\nnetwork = "bluesky"\n'
        'handle = "brand.bsky.social"\napp_password = "${BSKY_APP_PASSWORD}"\n',
        encoding="utf-8",
    )
    site.write_queue(["media/real.png"], at="2099-12-01 09:00")
    first = site.run("dry-run", "--json")
    assert first.returncode == 0, first.stderr
    site.write_queue([], thumb="media/real.png", at="2099-12-01 09:00")
    second = site.run("dry-run")  # the text form prints the payload too
    assert second.returncode == 0, second.stderr
    out, more = first.stdout, second.stdout
    assert str(site.root) not in out + more
    assert '"file": "media/real.png"' in out
    assert '"thumb": "<thumb:media/real.png>"' in more, more

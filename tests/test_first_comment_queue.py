"""``first_comment:`` in queue.yaml: overridden like the other fields, checked by ``validate``
at its line, shown by ``dry-run`` with its exact payload, stored with the delivery, and a
network without comments refused at render (``Capabilities.comments`` is None)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest

from publisher.adapters.base import (
    Capabilities,
    MediaItem,
    MediaLimits,
    OptionSpec,
    PostContent,
    Role,
    Subject,
)
from publisher.adapters.shared import render_with
from publisher.queuefile import load_queue
from publisher.store.codec import content_from_json, content_to_json
from publisher.text import LengthRule, grapheme_length
from tests.conftest import Project
from tests.test_cli import cli

COMMENT = "Inscription gratuite : https://example.com/atelier"
LONG = "Un premier commentaire bien trop long pour ce réseau, qui coupe à soixante. " * 2


def setup(project: Project, queue: str) -> None:
    project.accounts = {
        "alpha": {"network": "log"},
        "beta": {"network": "log", "max_length": 60},
        "gamma": {"network": "log"},
    }
    project.write_config()
    project.write_queue(queue)


QUEUE = f"""\
    posts:
      - id: atelier
        at: 2030-12-05 10:00
        accounts: [alpha, beta, gamma]
        text: Atelier couture samedi à 14 h.
        first_comment: "{COMMENT}"
        overrides:
          gamma:
            first_comment: ""
"""


async def test_dry_run_shows_the_comment_and_its_exact_payload(project: Project) -> None:
    setup(project, QUEUE)
    code, out, err = await cli("dry-run", "--json", "--config", str(project.config_path))
    assert code == 0, err
    by_account = {d["account"]: d for d in json.loads(out)["deliveries"]}
    post, comment = by_account["alpha"]["parts"]
    assert (post["role"], comment["role"]) == ("post", "comment")
    assert comment["index"] == 1 and comment["text"] == COMMENT
    # On the log network the comment is a reply to the post, as on Mastodon, Bluesky and X.
    assert comment["payload"] == {"text": COMMENT, "reply_to": "<part:0>"}
    assert comment["length"] == len(COMMENT) and comment["limit"] == 500
    # An empty override removes it for that account alone.
    assert [p["role"] for p in by_account["gamma"]["parts"]] == ["post"]

    code, out, _ = await cli("dry-run", "--config", str(project.config_path))
    assert code == 0
    assert f"first comment, once the post is out: {len(COMMENT)}/500" in out
    assert f'payload: {{"text": "{COMMENT}", "reply_to": "<part:0>"}}' in out


async def test_validate_puts_a_comment_too_long_at_its_line(project: Project) -> None:
    setup(project, QUEUE.replace(f'first_comment: "{COMMENT}"', f'first_comment: "{LONG}"'))
    code, _, err = await cli("validate", "--config", str(project.config_path))
    assert code == 1
    # beta takes 60 characters; the comment's own line and column, named by its field.
    assert "queue.yaml:6:20: posts[0].first_comment:" in err
    assert "the first comment is 151 long, log takes at most 60 in a comment" in err
    assert "(beta, log)" in err and "(alpha, log)" not in err


async def test_validate_puts_an_override_s_comment_at_the_override(project: Project) -> None:
    queue = QUEUE.replace(
        'gamma:\n            first_comment: ""', f'beta:\n            first_comment: "{LONG}"'
    )
    setup(project, queue)
    code, _, err = await cli("validate", "--config", str(project.config_path))
    assert code == 1
    assert "queue.yaml:9:24: posts[0].overrides.beta.first_comment:" in err


def test_overrides_apply_by_network_then_account(project: Project) -> None:
    setup(
        project,
        f"""\
        posts:
          - id: atelier
            at: 2030-12-05 10:00
            accounts: [alpha, beta]
            text: Atelier couture samedi.
            first_comment: "{COMMENT}"
            overrides:
              log:
                first_comment: Pour le réseau log
              beta:
                first_comment: Pour beta seulement
        """,
    )
    config = project.config()
    (post,) = load_queue(config.queue_path, config).posts
    alpha = post.content_for(config.accounts["alpha"])
    beta = post.content_for(config.accounts["beta"])
    assert alpha.first_comment == "Pour le réseau log"
    assert beta.first_comment == "Pour beta seulement"
    # The comment is part of what goes out: changing it changes the content's hash.
    bare = replace(post, first_comment="", overrides={})
    assert post.content_hash(config.accounts["alpha"]) != bare.content_hash(
        config.accounts["alpha"]
    )


def test_the_comment_is_stored_with_the_delivery() -> None:
    content = PostContent("p", "alpha", "log", "Bonjour", first_comment=COMMENT)
    assert content_from_json(content_to_json(content)) == content
    # A row without one reads, and writes, as it always did.
    bare = replace(content, first_comment="")
    assert "first_comment" not in json.loads(content_to_json(bare))
    assert content_from_json(content_to_json(bare)).first_comment == ""


class NoComments:
    """A network whose capabilities declare no comments (as a network without them does)."""

    post_options: Mapping[str, OptionSpec] = {}

    def capabilities(self) -> Capabilities:
        return Capabilities("pigeon", LengthRule(grapheme_length, 280), MediaLimits(), False)

    def build_payload(
        self, text: str, media: Sequence[MediaItem], index: int, total: int, content: PostContent
    ) -> Mapping[str, Any]:
        return {"text": text}

    def build_comment(self, text: str, content: PostContent) -> Mapping[str, Any]:
        raise AssertionError("never asked: the network takes no comments")


def test_a_network_without_comments_refuses_one_at_its_field() -> None:
    rendered = render_with(
        NoComments(), PostContent("p", "loft", "pigeon", "Bonjour", first_comment=COMMENT)
    )
    assert rendered.errors == ("pigeon takes no first comment: remove first_comment for it",)
    (problem,) = rendered.problems
    assert problem.subject is Subject.COMMENT
    assert [p.role for p in rendered.parts] == [Role.POST]
    # Without one, the same network renders cleanly.
    clean = render_with(NoComments(), PostContent("p", "loft", "pigeon", "Bonjour"))
    assert not clean.errors


META_QUEUE = """\
    posts:
      - id: soldes
        at: 2030-12-05 10:00
        accounts: [ig, th]
        text: Les soldes d'hiver commencent samedi.
        media:
          - file: vitrine.jpg
            alt: La vitrine des soldes
        first_comment: "{comment}"
"""


def setup_meta(project: Project, comment: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An Instagram and a Threads account (their tokens from the environment) and a photo."""
    monkeypatch.setenv("IG_TOKEN", "ig-token-for-a-dry-run")
    monkeypatch.setenv("TH_TOKEN", "th-token-for-a-dry-run")
    project.accounts = {
        "ig": {"network": "instagram", "user_id": "17841400000000001", "token": "${IG_TOKEN}"},
        "th": {"network": "threads", "user_id": "26000000000000001", "token": "${TH_TOKEN}"},
    }
    project.write_config()
    (project.root / "vitrine.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9")
    project.write_queue(META_QUEUE.format(comment=comment))


async def test_dry_run_shows_instagram_and_threads_comments(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Instagram's is a Comments API body; Threads' a reply to the post, counted as a post."""
    comment = "Toutes les adresses ❄️"
    setup_meta(project, comment, monkeypatch)
    code, out, err = await cli("dry-run", "--json", "--config", str(project.config_path))
    assert code == 0, err
    by_account = {d["account"]: d for d in json.loads(out)["deliveries"]}
    ig = by_account["ig"]["parts"][-1]
    assert (ig["role"], ig["payload"], ig["limit"]) == ("comment", {"message": comment}, 2_200)
    th = by_account["th"]["parts"][-1]
    assert th["role"] == "comment" and th["limit"] == 500
    assert th["payload"] == {"media_type": "TEXT", "text": comment, "reply_to_id": "<part:0>"}
    assert th["length"] == len("Toutes les adresses ") + 6  # ❄️: its 6 UTF-8 bytes


async def test_validate_checks_instagram_and_threads_comment_lengths(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_meta(project, "x" * 495 + "😀😀", monkeypatch)  # 497 characters, 503 on Threads
    code, _, err = await cli("validate", "--config", str(project.config_path))
    assert code == 1
    assert "the first comment is 503 long, threads takes at most 500 in a comment" in err
    assert "(ig, instagram)" not in err
    setup_meta(project, "x" * 2_201, monkeypatch)
    code, _, err = await cli("validate", "--config", str(project.config_path))
    assert code == 1
    assert "the first comment is 2201 long, instagram takes at most 2200 in a comment" in err

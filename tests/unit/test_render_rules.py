"""The shared render layer's rules as tables: media limits at their edges, when a post is
split and numbered, and what each rendered part carries (issue 22).

Capabilities are the log network's, with one limit changed per row (``dataclasses.replace``),
so the rows state the rule, not a network's numbers. Lengths are checked through
``count_length`` and the parts themselves, never through how a rule is spelled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, ClassVar

import pytest

from publisher.adapters.base import (
    AdapterContext,
    Capabilities,
    LinkCard,
    MediaItem,
    MediaLimits,
    OptionSpec,
    PostContent,
    ThreadMode,
)
from publisher.adapters.log import LogAdapter, LogSettings
from publisher.adapters.shared import NUMBERING_ROOM, render_with
from publisher.adapters.shared import check_media as _check_media
from publisher.adapters.shared import plan_texts as _plan_texts
from publisher.clock import FakeClock
from publisher.media import MediaRef
from publisher.text import LengthRule

CONTEXT = AdapterContext(None, FakeClock(datetime(2026, 12, 2, 9, 0, tzinfo=UTC)))
LIMIT = 60
BASE = LogAdapter("brand", LogSettings(max_length=LIMIT), CONTEXT).capabilities()
LIMITS = MediaLimits(
    max_images=2,
    max_videos=1,
    max_image_bytes=1000,
    max_video_bytes=5000,
    image_types=frozenset({"image/png", "image/jpeg"}),
    video_types=frozenset({"video/mp4", "image/gif"}),
    alt_text_max=10,
    mix_images_and_video=False,
)
CAPS = replace(BASE, network="net", media=LIMITS, threads=True)


def plan_texts(
    post: PostContent, caps: Capabilities
) -> tuple[list[str], list[str], list[str]]:
    """The shared planner with its problems read as their messages (the field each is about
    is validate's business, tested in tests/gate)."""
    texts, errors, warnings = _plan_texts(post, caps)
    return texts, [p.message for p in errors], [p.message for p in warnings]


def check_media(
    media: tuple[MediaItem, ...], caps: Capabilities
) -> tuple[list[str], list[str]]:
    errors, warnings = _check_media(media, caps)
    return [p.message for p in errors], [p.message for p in warnings]


def count_length(text: str, rule: LengthRule) -> int:
    """A rule's count: the rule is a counting function and a limit."""
    return rule.count(text)


def item(name: str, mime: str = "image/png", size: int = 100, alt: str = "alt") -> MediaItem:
    return MediaItem(MediaRef(None, f"/media/{name}", name), alt, mime, size)


PNG = item("a.png")
MP4 = item("v.mp4", "video/mp4", 100)
GIF = item("g.gif", "image/gif", 100)


# --- check_media ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("media", "limits", "errors", "warnings"),
    [
        ((), LIMITS, [], []),
        ((PNG,), LIMITS, [], []),
        ((PNG, item("b.png")), LIMITS, [], []),  # exactly max_images
        ((PNG, item("b.png"), item("c.png")), LIMITS, ["3 images, net takes at most 2"], []),
        ((MP4,), LIMITS, [], []),  # exactly max_videos
        ((MP4, GIF), LIMITS, ["2 videos/GIFs, net takes at most 1"], []),
        (
            (PNG, MP4),
            LIMITS,
            ["net cannot mix images and video/GIF in one post"],
            [],
        ),
        ((PNG, MP4), replace(LIMITS, mix_images_and_video=True), [], []),
        (
            (PNG, MP4),
            MediaLimits(),
            ["net takes no media here (2 attached)"],
            [],
        ),
        ((PNG,), replace(LIMITS, max_videos=0), [], []),  # no videos, images still fine
        ((MP4,), replace(LIMITS, max_images=0), [], []),  # no images, videos still fine
        ((item("a.png", size=1000),), LIMITS, [], []),  # exactly max_image_bytes
        (
            (item("a.png", size=1001),),
            LIMITS,
            ["a.png: 1,001 bytes, net takes at most 1,000"],
            [],
        ),
        ((item("v.mp4", "video/mp4", 5000),), LIMITS, [], []),  # a video's own limit
        (
            (item("v.mp4", "video/mp4", 5001),),
            LIMITS,
            ["v.mp4: 5,001 bytes, net takes at most 5,000"],
            [],
        ),
        ((item("a.png", size=10**9),), replace(LIMITS, max_image_bytes=0), [], []),  # 0: none
        (
            (item("a.webp", "image/webp"),),
            LIMITS,
            ["a.webp: image/webp is not accepted by net"],
            [],
        ),
        (
            (item("v.mov", "video/quicktime"),),
            LIMITS,
            ["v.mov: video/quicktime is not accepted by net"],
            [],
        ),
        ((item("a.webp", "image/webp"),), replace(LIMITS, image_types=frozenset()), [], []),
        ((item("a.png", alt="x" * 10),), LIMITS, [], []),  # exactly alt_text_max
        (
            (item("a.png", alt="x" * 11),),
            LIMITS,
            ["a.png: alt text is 11 characters, net takes at most 10"],
            [],
        ),
        ((item("a.png", alt=""),), LIMITS, [], ["a.png: no alt text"]),
        (
            (item("a.png", alt="hello"),),
            replace(LIMITS, alt_text_max=0),
            [],
            ["a.png: net has no alt text; it is dropped"],
        ),
        ((item("a.png", alt=""),), replace(LIMITS, alt_text_max=0), [], []),
    ],
)
def test_check_media(
    media: tuple[MediaItem, ...], limits: MediaLimits, errors: list[str], warnings: list[str]
) -> None:
    assert check_media(media, replace(CAPS, media=limits)) == (errors, warnings)


# --- plan_texts ----------------------------------------------------------------------------


def content(text: str, *extra: str, thread: ThreadMode = ThreadMode.AUTO, **kw: Any) -> PostContent:
    return PostContent("p", "brand", "log", text, thread=thread, extra_parts=extra, **kw)


def words(n: int) -> str:
    """``n`` characters of five-letter words."""
    return ("abcd " * n)[:n].rstrip() + "e" * (n - len(("abcd " * n)[:n].rstrip()))


def test_words_helper() -> None:
    assert [len(words(n)) for n in (1, 59, 60, 61, 200)] == [1, 59, 60, 61, 200]


@pytest.mark.parametrize(
    ("length", "parts"),
    [(LIMIT - 1, 1), (LIMIT, 1), (LIMIT + 1, 2)],  # exactly the limit still fits
)
def test_split_only_past_the_limit(length: int, parts: int) -> None:
    texts, errors, warnings = plan_texts(content(words(length)), CAPS)
    assert (len(texts), errors) == (parts, [])
    assert warnings == ([] if parts == 1 else [f"split into a thread of {parts} parts"])
    assert all(count_length(t, CAPS.length) <= LIMIT for t in texts)


def test_numbered_parts_fit_with_their_numbering() -> None:
    texts, errors, _ = plan_texts(content(words(3 * LIMIT), thread=ThreadMode.NUMBERED), CAPS)
    assert errors == []
    n = len(texts)
    assert n >= 3
    for i, t in enumerate(texts, start=1):
        assert t.endswith(f" ({i}/{n})")
        assert count_length(t, CAPS.length) <= LIMIT
    # Room kept is " (99/99)", not one character less: each part (without its numbering) fits
    # in LIMIT - 8, and the split is the one made with that limit.
    room = replace(CAPS.length, limit=LIMIT - len(NUMBERING_ROOM))
    bare = [t.rsplit(" (", 1)[0] for t in texts]
    assert all(count_length(b, room) <= room.limit for b in bare)
    assert max(count_length(b, room) for b in bare) > room.limit - 8  # parts are filled


def test_a_numbered_post_that_fits_is_not_numbered() -> None:
    texts, errors, warnings = plan_texts(content(words(LIMIT), thread=ThreadMode.NUMBERED), CAPS)
    assert (texts, errors, warnings) == ([words(LIMIT)], [], [])


def test_numbered_editor_parts_are_numbered_once_each() -> None:
    texts, errors, warnings = plan_texts(
        content("one", "two", "three", thread=ThreadMode.NUMBERED), CAPS
    )
    assert texts == ["one (1/3)", "two (2/3)", "three (3/3)"]
    assert (errors, warnings) == ([], ["split into a thread of 3 parts"])


def test_editor_parts_without_numbering() -> None:
    assert plan_texts(content("one", "two"), CAPS) == (
        ["one", "two"],
        [],
        ["split into a thread of 2 parts"],
    )


def test_two_parts_on_a_network_without_threads() -> None:
    caps = replace(CAPS, threads=False)
    assert plan_texts(content("one", "two"), caps) == (
        ["one", "two"],
        ["net has no threads; this post has 2 parts"],
        [],
    )
    assert plan_texts(content("one"), caps) == (["one"], [], [])


@pytest.mark.parametrize(
    ("threads", "mode", "why"),
    [
        (False, ThreadMode.AUTO, "net has no threads"),
        (True, ThreadMode.OFF, "threads are off"),
        (False, ThreadMode.OFF, "net has no threads"),
    ],
)
def test_too_long_where_it_may_not_split(threads: bool, mode: ThreadMode, why: str) -> None:
    text = words(LIMIT + 1)
    texts, errors, warnings = plan_texts(content(text, thread=mode), replace(CAPS, threads=threads))
    assert texts == [text]
    assert errors == [f"text is {LIMIT + 1} long, the limit is {LIMIT} ({why})"]
    assert warnings == []


def test_a_numbered_thread_off_is_not_numbered() -> None:
    """NUMBERED on a network without threads: too long is an error, nothing is numbered."""
    text = words(LIMIT + 1)
    caps = replace(CAPS, threads=False)
    texts, errors, _ = plan_texts(content(text, thread=ThreadMode.NUMBERED), caps)
    assert texts == [text]
    assert errors == [f"text is {LIMIT + 1} long, the limit is {LIMIT} (net has no threads)"]


def test_a_limit_no_part_can_meet_is_an_error_once() -> None:
    """Not even one character fits: reported once, the text kept whole and unnumbered."""
    none = replace(CAPS, length=replace(CAPS.length, limit=0))
    texts, errors, warnings = plan_texts(content("ab x", thread=ThreadMode.NUMBERED), none)
    assert (texts, warnings) == (["ab x"], [])
    assert len(errors) == 1
    assert errors[0].startswith("text is 4 long, the limit is 0: ")


def test_errors_of_both_splits_are_kept() -> None:
    """Parts that fit unnumbered but not with the numbering's room: that split's error too."""
    tight = replace(CAPS, length=replace(CAPS.length, limit=5))
    texts, errors, _ = plan_texts(content("aaaaaa", thread=ThreadMode.NUMBERED), tight)
    assert len(errors) == 1 and errors[0].startswith("text is 6 long, the limit is -3: ")
    assert len(texts) == 1
    none = replace(CAPS, length=replace(CAPS.length, limit=0))
    texts, errors, _ = plan_texts(content("ab", "cd", thread=ThreadMode.NUMBERED), none)
    assert [e.split(":")[0] for e in errors] == [
        "text is 2 long, the limit is 0",
        "text is 2 long, the limit is 0",
        "text is 2 long, the limit is -8",
        "text is 2 long, the limit is -8",
    ]
    assert texts == ["ab (1/2)", "cd (2/2)"]


# --- render_with ---------------------------------------------------------------------------


class Numbering(LogAdapter):
    """A network whose payload carries the part's place and the post's options."""

    post_options: ClassVar[Mapping[str, OptionSpec]] = MappingProxyType(
        {"tone": OptionSpec(str, choices=("calm", "loud"))}
    )

    def build_payload(
        self, text: str, media: Sequence[MediaItem], index: int, total: int, content: PostContent
    ) -> Mapping[str, Any]:
        return {
            "text": text,
            "at": f"{index}/{total}",
            "media": [m.filename for m in media],
            "post": content.post_id,
        }


def test_render_parts_carry_their_index_text_media_length_and_thumb() -> None:
    adapter = Numbering("brand", LogSettings(max_length=LIMIT), CONTEXT)
    thumb = item("t.png")
    post = content(
        "one", "two", "three", media=(PNG,), link=LinkCard("https://a.example", thumb=thumb)
    )
    r = render_with(adapter, post)
    assert (r.network, r.account, r.limit, r.errors) == ("log", "brand", LIMIT, ())
    assert r.warnings == (
        "split into a thread of 3 parts",
        "log shows no link card and https://a.example is not in the text: the link is not "
        "sent at all; put it in the text",
    )
    assert [(p.index, p.text, p.media, p.length, p.thumb) for p in r.parts] == [
        (0, "one", (PNG,), 3, thumb),
        (1, "two", (), 3, None),
        (2, "three", (), 5, None),
    ]
    assert [p.payload for p in r.parts] == [
        {"text": "one", "at": "0/3", "media": ["a.png"], "post": "p"},
        {"text": "two", "at": "1/3", "media": [], "post": "p"},
        {"text": "three", "at": "2/3", "media": [], "post": "p"},
    ]


def test_render_collects_every_kind_of_problem() -> None:
    adapter = Numbering("brand", LogSettings(max_length=LIMIT), CONTEXT)
    post = content(
        "one", "two", media=(item("a.tiff", "image/tiff", alt=""),), options={"tone": "shrill"}
    )
    r = render_with(replace_caps(adapter, threads=False), post)
    assert r.errors == (
        "log has no threads; this post has 2 parts",
        "option tone: 'shrill' is not one of: calm, loud",
        "a.tiff: image/tiff is not accepted by log",
    )
    assert r.warnings == ("a.tiff: no alt text",)


def test_a_good_option_is_no_error() -> None:
    adapter = Numbering("brand", LogSettings(max_length=LIMIT), CONTEXT)
    assert render_with(adapter, content("hi", options={"tone": "calm"})).errors == ()


@pytest.mark.parametrize(
    ("text", "media", "empty"),
    [("", (), True), ("   \n", (), True), ("", (PNG,), False), ("x", (), False)],
)
def test_nothing_to_publish(text: str, media: tuple[MediaItem, ...], empty: bool) -> None:
    adapter = LogAdapter("brand", LogSettings(max_length=LIMIT), CONTEXT)
    errors = render_with(adapter, content(text, media=media)).errors
    assert errors == (
        ("nothing to publish: the text is empty and there is no media",) if empty else ()
    )


def replace_caps(adapter: LogAdapter, **changes: Any) -> LogAdapter:
    """The same adapter, declaring other capabilities."""
    caps: Capabilities = replace(adapter.capabilities(), **changes)

    class Changed(type(adapter)):  # type: ignore[misc]
        def capabilities(self) -> Capabilities:
            return caps

    return Changed(adapter.account, adapter.settings, adapter.context)


# --- the first comment ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("comment", "errors"),
    [
        ("x" * LIMIT, ()),  # at the limit: out
        (
            "x" * (LIMIT + 1),
            (f"the first comment is {LIMIT + 1} long, log takes at most {LIMIT} in a comment",),
        ),
    ],
)
def test_the_comment_is_last_with_its_own_rule(comment: str, errors: tuple[str, ...]) -> None:
    adapter = Numbering("brand", LogSettings(max_length=LIMIT), CONTEXT)
    r = render_with(adapter, content("one", "two", first_comment=comment))
    assert r.errors == errors
    assert [p.role.value for p in r.parts] == ["post", "post", "comment"]
    last = r.parts[-1]
    assert (last.index, last.text, last.media, last.length, last.limit) == (
        2, comment, (), LIMIT + len(errors), LIMIT
    )
    # The default comment is a reply to the post, built like a thread's second part.
    assert last.payload == {"text": comment, "at": "1/2", "media": [], "post": "p"}
    assert r.comment is last and r.post_parts == r.parts[:2]


@pytest.mark.parametrize("comment", ["", " \n "])
def test_a_blank_comment_is_none(comment: str) -> None:
    adapter = LogAdapter("brand", LogSettings(max_length=LIMIT), CONTEXT)
    r = render_with(adapter, content("one", first_comment=comment))
    assert r.errors == () and r.comment is None and len(r.parts) == 1


def test_a_network_without_comments_refuses_one() -> None:
    log = LogAdapter("brand", LogSettings(max_length=LIMIT), CONTEXT)
    adapter = replace_caps(log, comments=None)
    r = render_with(adapter, content("one", first_comment="hello"))
    assert r.errors == ("log takes no first comment: remove first_comment for it",)
    assert r.comment is None and len(r.parts) == 1

# ruff: noqa: E501 - tables of problems, one row each
"""Where each render problem points: its field (``Subject``), the item or part, the option's
key (issue 22).

``validate`` and ``dry-run`` locate a problem by these (file, line and column of the field);
``test_render_rules.py`` reads problems as their messages, so a problem pointing at the wrong
field or item would pass there. Each row is a render and the problems it gives, in order,
whole.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from publisher.adapters.base import LinkCard, MediaItem, MediaLimits, PostContent, ThreadMode
from publisher.adapters.log import LogAdapter, LogSettings
from publisher.adapters.shared import check_media, render_with
from publisher.content import Problem, Subject
from tests.unit.test_render_rules import (
    CAPS,
    CONTEXT,
    GIF,
    LIMIT,
    LIMITS,
    MP4,
    PNG,
    Numbering,
    content,
    item,
    replace_caps,
    words,
)

A = Numbering("brand", LogSettings(max_length=LIMIT), CONTEXT)
L = LogAdapter("brand", LogSettings(max_length=LIMIT), CONTEXT)
Row = tuple[str, Subject, int, str]


def _rows(problems: tuple[Problem, ...] | list[Problem]) -> list[Row]:
    return [(p.message, p.subject, p.index, p.key) for p in problems]


@pytest.mark.parametrize(
    ("media", "limits", "errors", "warnings"),
    [
        ((PNG, item('b.png'), item('c.png')), LIMITS, [('3 images, net takes at most 2', Subject.MEDIA, 2, '')], []),
        ((MP4, GIF), LIMITS, [('2 videos/GIFs, net takes at most 1', Subject.MEDIA, 1, '')], []),
        ((PNG, MP4), LIMITS, [('net cannot mix images and video/GIF in one post', Subject.MEDIA, 1, '')], []),
        ((GIF, PNG), LIMITS, [('net cannot mix images and video/GIF in one post', Subject.MEDIA, 1, '')], []),
        ((PNG, MP4), MediaLimits(), [('net takes no media here (2 attached)', Subject.MEDIA, 0, '')], []),
        ((PNG, item('b.png'), MP4), replace(LIMITS, mix_images_and_video=True, max_items=2), [('3 images and videos, net takes at most 2 in all', Subject.MEDIA, 2, '')], []),
        ((PNG, item('v.mp4', 'video/mp4', 5001)), LIMITS, [('net cannot mix images and video/GIF in one post', Subject.MEDIA, 1, ''), ('v.mp4: 5,001 bytes, net takes at most 5,000', Subject.MEDIA, 1, '')], []),
        ((PNG, MP4), replace(LIMITS, max_videos=0), [('v.mp4: net takes no video or GIF', Subject.MEDIA, 1, '')], []),
        ((PNG, item('a.png', size=1001)), LIMITS, [('a.png: 1,001 bytes, net takes at most 1,000', Subject.MEDIA, 1, '')], []),
        ((PNG, item('a.webp', 'image/webp')), LIMITS, [('a.webp: image/webp is not accepted by net', Subject.MEDIA, 1, '')], []),
        ((PNG, item('a.png', alt='x' * 11)), LIMITS, [('a.png: alt text is 11 characters, net takes at most 10', Subject.ALT, 1, '')], []),
        ((PNG, item('a.png', alt='')), LIMITS, [], [('a.png: no alt text', Subject.ALT, 1, '')]),
        ((PNG, item('a.png', alt='hello')), replace(LIMITS, alt_text_max=0), [], [('a.png: net has no alt text; it is dropped', Subject.ALT, 0, ''), ('a.png: net has no alt text; it is dropped', Subject.ALT, 1, '')]),
        # exactly max_items in all; a video where none is taken, after another error
        ((PNG, item('b.png'), MP4), replace(LIMITS, mix_images_and_video=True, max_items=3), [], []),
        ((PNG, item('b.png'), item('c.png'), MP4), replace(LIMITS, max_videos=0), [('3 images, net takes at most 2', Subject.MEDIA, 2, ''), ('v.mp4: net takes no video or GIF', Subject.MEDIA, 3, '')], []),
    ],
)
def test_media_problems_point_at_their_item(
    media: tuple[MediaItem, ...], limits: MediaLimits, errors: list[Row], warnings: list[Row]
) -> None:
    found_errors, found_warnings = check_media(media, replace(CAPS, media=limits))
    assert (_rows(found_errors), _rows(found_warnings)) == (errors, warnings)


@pytest.mark.parametrize(
    ("adapter", "post", "problems"),
    [
        (replace_caps(A, threads=False), content('one', 'two', options={'tone': 'shrill'}), [('log has no threads; this post has 2 parts', Subject.PARTS, 0, ''), ("option tone: 'shrill' is not one of: calm, loud", Subject.OPTION, 0, 'tone')]),
        (replace_caps(A, threads=False), content(words(LIMIT + 1), words(LIMIT + 2)), [('log has no threads; this post has 2 parts', Subject.PARTS, 0, '')]),
        (A, content(words(LIMIT + 1), 'two', thread=ThreadMode.OFF), [('text is 61 long, the limit is 60 (threads are off)', Subject.TEXT, 0, ''), ('split into a thread of 2 parts', Subject.TEXT, 0, '')]),
        (replace_caps(A, length=replace(CAPS.length, limit=0)), content('ab', 'cd x'), [('text is 2 long, the limit is 0: the limit is too small: even one character (with the thread numbering) does not fit', Subject.TEXT, 0, ''), ('text is 4 long, the limit is 0: the limit is too small: even one character (with the thread numbering) does not fit', Subject.PART, 0, ''), ('split into a thread of 2 parts', Subject.TEXT, 0, '')]),
        (A, content('one', 'two'), [('split into a thread of 2 parts', Subject.TEXT, 0, '')]),
        (A, content('one', first_comment='x' * (LIMIT + 1)), [('the first comment is 61 long, log takes at most 60 in a comment', Subject.COMMENT, 0, '')]),
        (replace_caps(L, comments=None), content('one', first_comment='hello'), [('log takes no first comment: remove first_comment for it', Subject.COMMENT, 0, '')]),
        (L, content(''), [('nothing to publish: the text is empty and there is no media', Subject.TEXT, 0, '')]),
        (L, content('one', link=LinkCard('https://a.example')), [('log shows no link card and https://a.example is not in the text: the link is not sent at all; put it in the text', Subject.LINK, 0, '')]),
        (L, content('one', media=(item('a.png', alt=''),)), [('a.png: no alt text', Subject.ALT, 0, '')]),
        (A, content('one', words(LIMIT + 1), thread=ThreadMode.OFF), [('text is 61 long, the limit is 60 (threads are off)', Subject.PART, 0, ''), ('split into a thread of 2 parts', Subject.TEXT, 0, '')]),
        (L, content('see https://a.example', link=LinkCard('https://a.example')), [("log shows no link card: the card's title, description and thumbnail are not sent (log may preview https://a.example from the text)", Subject.LINK, 0, '')]),
    ],
)
def test_render_problems_point_at_their_field(
    adapter: LogAdapter, post: PostContent, problems: list[Row]
) -> None:
    assert _rows(render_with(adapter, post).problems) == problems

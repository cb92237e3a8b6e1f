"""The shared layer: length checks, media checks and thread splitting, once for every network.

Adapters declare ``Capabilities``; this module turns a ``PostContent`` into parts that satisfy
them (or says why it cannot), and asks the adapter only for the payload of each part.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from publisher.adapters.capabilities import Capabilities, OptionSpec
from publisher.adapters.listening import Listening
from publisher.content import (
    MediaItem,
    PostContent,
    Problem,
    Rendered,
    RenderedPart,
    Role,
    Subject,
    ThreadMode,
)
from publisher.text import LengthRule, split_thread


class Renders(Protocol):
    """What rendering asks of an adapter (``publisher.adapters.base.Adapter`` has it all):
    its rules, its options, and the payload of one part."""

    @property
    def post_options(self) -> Mapping[str, OptionSpec]: ...

    @property
    def listening(self) -> Listening | None: ...

    def capabilities(self) -> Capabilities: ...

    def build_payload(
        self, text: str, media: Sequence[MediaItem], index: int, total: int, content: PostContent
    ) -> Mapping[str, Any]: ...

    def build_comment(self, text: str, content: PostContent) -> Mapping[str, Any]: ...


def check_media(
    media: tuple[MediaItem, ...], caps: Capabilities
) -> tuple[list[Problem], list[Problem]]:
    """Errors and warnings for a post's media against the network's declared limits, each at
    the item it is about (for a count, the first item past the limit)."""
    limits = caps.media
    errors: list[Problem] = []
    warnings: list[Problem] = []
    images = [i for i, m in enumerate(media) if m.kind == "image"]
    videos = [i for i, m in enumerate(media) if m.kind != "image"]
    if media and limits.max_images == 0 and limits.max_videos == 0:
        errors.append(
            Problem(f"{caps.network} takes no media here ({len(media)} attached)", Subject.MEDIA)
        )
        return errors, warnings
    if len(images) > limits.max_images:
        errors.append(
            Problem(
                f"{len(images)} images, {caps.network} takes at most {limits.max_images}",
                Subject.MEDIA,
                images[limits.max_images],
            )
        )
    if videos and limits.max_videos == 0:
        errors += [
            Problem(f"{media[i].filename}: {caps.network} takes no video or GIF", Subject.MEDIA, i)
            for i in videos
        ]
    elif len(videos) > limits.max_videos:
        errors.append(
            Problem(
                f"{len(videos)} videos/GIFs, {caps.network} takes at most {limits.max_videos}",
                Subject.MEDIA,
                videos[limits.max_videos],
            )
        )
    if limits.max_items and len(media) > limits.max_items:
        errors.append(
            Problem(
                f"{len(media)} images and videos, {caps.network} takes at most "
                f"{limits.max_items} in all",
                Subject.MEDIA,
                limits.max_items,
            )
        )
    if images and videos and limits.max_videos and not limits.mix_images_and_video:
        errors.append(
            Problem(
                f"{caps.network} cannot mix images and video/GIF in one post",
                Subject.MEDIA,
                max(images[0], videos[0]),  # the first item of the kind that came second
            )
        )
    for i, m in enumerate(media):
        is_image = m.kind == "image"
        types = limits.image_types if is_image else limits.video_types
        max_bytes = limits.max_image_bytes if is_image else limits.max_video_bytes
        if types and m.mime_type not in types:
            errors.append(
                Problem(
                    f"{m.filename}: {m.mime_type} is not accepted by {caps.network}",
                    Subject.MEDIA,
                    i,
                )
            )
        if max_bytes and m.size > max_bytes:
            errors.append(
                Problem(
                    f"{m.filename}: {m.size:,} bytes, {caps.network} takes at most {max_bytes:,}",
                    Subject.MEDIA,
                    i,
                )
            )
        if limits.alt_text_max == 0 and m.alt:
            warnings.append(
                Problem(
                    f"{m.filename}: {caps.network} has no alt text; it is dropped", Subject.ALT, i
                )
            )
        elif limits.alt_text_max and len(m.alt) > limits.alt_text_max:
            errors.append(
                Problem(
                    f"{m.filename}: alt text is {len(m.alt)} characters, "
                    f"{caps.network} takes at most {limits.alt_text_max}",
                    Subject.ALT,
                    i,
                )
            )
        elif limits.alt_text_max and not m.alt:
            warnings.append(Problem(f"{m.filename}: no alt text", Subject.ALT, i))
    return errors, warnings


NUMBERING_ROOM = " (99/99)"


def _source(index: int) -> tuple[Subject, int]:
    """Where source ``index`` of a post is: its text, then the editor's parts."""
    return (Subject.TEXT, 0) if index == 0 else (Subject.PART, index - 1)


def _split_sources(
    sources: list[str], rule: LengthRule, may_split: bool, caps: Capabilities, errors: list[Problem]
) -> list[str]:
    texts: list[str] = []
    for index, source in enumerate(sources):
        length = rule.count(source)
        if length <= rule.limit:
            texts.append(source)
        elif may_split:
            try:
                texts.extend(split_thread(source, rule, numbered=False))
            except ValueError as err:  # a limit no part can meet: the post cannot go out
                message = f"text is {length} long, the limit is {rule.limit}: {err}"
                errors.append(Problem(message, *_source(index)))
                texts.append(source)
        else:
            why = "threads are off" if caps.threads else f"{caps.network} has no threads"
            message = f"text is {length} long, the limit is {rule.limit} ({why})"
            errors.append(Problem(message, *_source(index)))
            texts.append(source)
    return texts


def plan_texts(
    content: PostContent, caps: Capabilities
) -> tuple[list[str], list[Problem], list[Problem]]:
    """The text of each part, with errors and warnings; splits where the network threads."""
    rule = caps.length
    errors: list[Problem] = []
    warnings: list[Problem] = []
    numbered = content.thread is ThreadMode.NUMBERED
    sources = [content.text, *content.extra_parts]
    may_split = caps.threads and content.thread is not ThreadMode.OFF
    if len(sources) > 1 and not caps.threads:
        message = f"{caps.network} has no threads; this post has {len(sources)} parts"
        errors.append(Problem(message, Subject.PARTS))
        return sources, errors, warnings
    texts = _split_sources(sources, rule, may_split, caps, errors)
    if numbered and may_split and len(texts) > 1:
        # Split again with room kept for " (99/99)", the editor's parts staying parts,
        # then number them: every numbered part still fits.
        room = replace(rule, limit=rule.limit - len(NUMBERING_ROOM))
        room_errors: list[Problem] = []
        texts = _split_sources(sources, room, may_split, caps, room_errors)
        errors += [e for e in room_errors if e not in errors]
        n = len(texts)
        texts = [f"{t} ({i}/{n})" for i, t in enumerate(texts, start=1)]
    if len(texts) > 1:
        warnings.append(Problem(f"split into a thread of {len(texts)} parts", Subject.TEXT))
    return texts, errors, warnings


def check_options(adapter: Renders, content: PostContent) -> list[Problem]:
    """Errors for the options ``adapter`` takes whose value it does not; the queue parser
    reports them at their line first, so this only stops content that came another way."""
    out = []
    for name, spec in adapter.post_options.items():
        if name in content.options:
            problem = spec.problem(content.options[name])
            if problem is not None:
                out.append(Problem(f"option {name}: {problem}", Subject.OPTION, key=name))
    return out


def check_reply(adapter: Renders, content: PostContent, network: str) -> list[Problem]:
    """Errors that stop an answer (``reply_to:``): a network that cannot answer, a target
    not in the inbox, or one heard on another network."""
    target = content.reply_to
    if target is None:
        return []
    listening = adapter.listening
    if listening is None or not listening.reply:
        return [Problem(f"{network} cannot answer an item: remove reply_to", Subject.REPLY)]
    if not target.resolved:
        message = (
            f"reply_to {target.ref}: no such item in the inbox (see `publisher inbox`); "
            "nothing is sent until it is there"
        )
        return [Problem(message, Subject.REPLY)]
    if target.network != network:
        message = (
            f"reply_to {target.ref} was heard on {target.network}: "
            f"a {network} account cannot answer it"
        )
        return [Problem(message, Subject.REPLY)]
    return []


def render_with(adapter: Renders, content: PostContent) -> Rendered:
    caps = adapter.capabilities()
    texts, errors, warnings = plan_texts(content, caps)
    errors += check_options(adapter, content)
    errors += check_reply(adapter, content, caps.network)
    media_errors, media_warnings = check_media(content.media, caps)
    errors += media_errors
    warnings += media_warnings
    if not any(t.strip() for t in texts) and not content.media:
        errors.append(
            Problem("nothing to publish: the text is empty and there is no media", Subject.TEXT)
        )
    if content.link is not None and not caps.link_cards:
        warnings.append(_no_card(content.link.url, texts, caps.network))
    parts: list[RenderedPart] = []
    total = len(texts)
    card = content.link
    count = caps.length.count
    for index, text in enumerate(texts):
        media = content.media if index == 0 else ()
        payload = adapter.build_payload(text, media, index, total, content)
        thumb = card.thumb if index == 0 and card is not None else None
        length = count(text)
        parts.append(RenderedPart(index, text, tuple(media), length, payload, thumb))
    if content.first_comment.strip():
        comment, problem = render_comment(adapter, content, caps, len(parts))
        if comment is not None:
            parts.append(comment)
        if problem is not None:
            errors.append(problem)
    return Rendered(
        network=caps.network,
        account=content.account,
        limit=caps.length.limit,
        parts=tuple(parts),
        warnings=tuple(p.message for p in warnings),
        errors=tuple(p.message for p in errors),
        problems=(*errors, *warnings),
    )


def render_comment(
    adapter: Renders, content: PostContent, caps: Capabilities, index: int
) -> tuple[RenderedPart | None, Problem | None]:
    """The post's first comment as its last part (``Role.COMMENT``, after the ``index`` parts
    of the post), and the error that stops it: a network without comments, or a comment
    longer than the network's comment rule (a comment is never split)."""
    text = content.first_comment
    rules = caps.comments
    if rules is None:
        message = f"{caps.network} takes no first comment: remove first_comment for it"
        return None, Problem(message, Subject.COMMENT)
    length = rules.length.count(text)
    payload = adapter.build_comment(text, content)
    limit = rules.length.limit
    part = RenderedPart(index, text, (), length, payload, role=Role.COMMENT, limit=limit)
    if length > rules.length.limit:
        message = (
            f"the first comment is {length} long, {caps.network} takes at most "
            f"{rules.length.limit} in a comment"
        )
        return part, Problem(message, Subject.COMMENT)
    return part, None


def _no_card(url: str, texts: list[str], network: str) -> Problem:
    """A link card for a network that shows none: the card is not sent. Not an error: the
    network previews a link of the text itself, and one post may go to networks with cards
    and without (an override cannot take a card away)."""
    if any(url in t for t in texts):
        message = (
            f"{network} shows no link card: the card's title, description and thumbnail are "
            f"not sent ({network} may preview {url} from the text)"
        )
    else:
        message = (
            f"{network} shows no link card and {url} is not in the text: the link is not sent "
            "at all; put it in the text"
        )
    return Problem(message, Subject.LINK)

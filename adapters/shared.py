"""The shared layer: length checks, media checks and thread splitting, once for every network.

Adapters declare ``Capabilities``; this module turns a ``PostContent`` into parts that satisfy
them (or says why it cannot), and asks the adapter only for the payload of each part.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from publisher.adapters.capabilities import Capabilities, OptionSpec
from publisher.content import MediaItem, PostContent, Rendered, RenderedPart, ThreadMode
from publisher.text import LengthRule, split_thread


class Renders(Protocol):
    """What rendering asks of an adapter (``publisher.adapters.base.Adapter`` has it all):
    its rules, its options, and the payload of one part."""

    @property
    def post_options(self) -> Mapping[str, OptionSpec]: ...

    def capabilities(self) -> Capabilities: ...

    def build_payload(
        self, text: str, media: Sequence[MediaItem], index: int, total: int, content: PostContent
    ) -> Mapping[str, Any]: ...


def check_media(media: tuple[MediaItem, ...], caps: Capabilities) -> tuple[list[str], list[str]]:
    """Errors and warnings for a post's media against the network's declared limits."""
    limits = caps.media
    errors: list[str] = []
    warnings: list[str] = []
    images = [m for m in media if m.kind == "image"]
    videos = [m for m in media if m.kind != "image"]
    if media and limits.max_images == 0 and limits.max_videos == 0:
        errors.append(f"{caps.network} takes no media here ({len(media)} attached)")
        return errors, warnings
    if len(images) > limits.max_images:
        errors.append(f"{len(images)} images, {caps.network} takes at most {limits.max_images}")
    if len(videos) > limits.max_videos:
        errors.append(
            f"{len(videos)} videos/GIFs, {caps.network} takes at most {limits.max_videos}"
        )
    if images and videos and not limits.mix_images_and_video:
        errors.append(f"{caps.network} cannot mix images and video/GIF in one post")
    for m in media:
        is_image = m.kind == "image"
        types = limits.image_types if is_image else limits.video_types
        max_bytes = limits.max_image_bytes if is_image else limits.max_video_bytes
        if types and m.mime_type not in types:
            errors.append(f"{m.filename}: {m.mime_type} is not accepted by {caps.network}")
        if max_bytes and m.size > max_bytes:
            errors.append(
                f"{m.filename}: {m.size:,} bytes, {caps.network} takes at most {max_bytes:,}"
            )
        if limits.alt_text_max == 0 and m.alt:
            warnings.append(f"{m.filename}: {caps.network} has no alt text; it is dropped")
        elif limits.alt_text_max and len(m.alt) > limits.alt_text_max:
            errors.append(
                f"{m.filename}: alt text is {len(m.alt)} characters, "
                f"{caps.network} takes at most {limits.alt_text_max}"
            )
        elif limits.alt_text_max and not m.alt:
            warnings.append(f"{m.filename}: no alt text")
    return errors, warnings


NUMBERING_ROOM = " (99/99)"


def _split_sources(
    sources: list[str], rule: LengthRule, may_split: bool, caps: Capabilities, errors: list[str]
) -> list[str]:
    texts: list[str] = []
    for source in sources:
        length = rule.count(source)
        if length <= rule.limit:
            texts.append(source)
        elif may_split:
            try:
                texts.extend(split_thread(source, rule, numbered=False))
            except ValueError as err:  # a limit no part can meet: the post cannot go out
                errors.append(f"text is {length} long, the limit is {rule.limit}: {err}")
                texts.append(source)
        else:
            why = "threads are off" if caps.threads else f"{caps.network} has no threads"
            errors.append(f"text is {length} long, the limit is {rule.limit} ({why})")
            texts.append(source)
    return texts


def plan_texts(content: PostContent, caps: Capabilities) -> tuple[list[str], list[str], list[str]]:
    """The text of each part, with errors and warnings; splits where the network threads."""
    rule = caps.length
    errors: list[str] = []
    warnings: list[str] = []
    numbered = content.thread is ThreadMode.NUMBERED
    sources = [content.text, *content.extra_parts]
    may_split = caps.threads and content.thread is not ThreadMode.OFF
    if len(sources) > 1 and not caps.threads:
        errors.append(f"{caps.network} has no threads; this post has {len(sources)} parts")
        return sources, errors, warnings
    texts = _split_sources(sources, rule, may_split, caps, errors)
    if numbered and may_split and len(texts) > 1:
        # Split again with room kept for " (99/99)", the editor's parts staying parts,
        # then number them: every numbered part still fits.
        room = replace(rule, limit=rule.limit - len(NUMBERING_ROOM))
        room_errors: list[str] = []
        texts = _split_sources(sources, room, may_split, caps, room_errors)
        errors += [e for e in room_errors if e not in errors]
        n = len(texts)
        texts = [f"{t} ({i}/{n})" for i, t in enumerate(texts, start=1)]
    if len(texts) > 1:
        warnings.append(f"split into a thread of {len(texts)} parts")
    return texts, errors, warnings


def check_options(adapter: Renders, content: PostContent) -> list[str]:
    """Errors for the options ``adapter`` takes whose value it does not; the queue parser
    reports them at their line first, so this only stops content that came another way."""
    out = []
    for name, spec in adapter.post_options.items():
        if name in content.options:
            problem = spec.problem(content.options[name])
            if problem is not None:
                out.append(f"option {name}: {problem}")
    return out


def render_with(adapter: Renders, content: PostContent) -> Rendered:
    caps = adapter.capabilities()
    texts, errors, warnings = plan_texts(content, caps)
    errors += check_options(adapter, content)
    media_errors, media_warnings = check_media(content.media, caps)
    errors += media_errors
    warnings += media_warnings
    if not any(t.strip() for t in texts) and not content.media:
        errors.append("nothing to publish: the text is empty and there is no media")
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
    return Rendered(
        network=caps.network,
        account=content.account,
        limit=caps.length.limit,
        parts=tuple(parts),
        warnings=tuple(warnings),
        errors=tuple(errors),
    )

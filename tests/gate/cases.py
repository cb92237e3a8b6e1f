"""Network-level problems in queue files that parse: what `publisher validate` must find by
rendering each delivery, and exactly where (line and column of the field that causes it).

The accounts (see ``ACCOUNTS``): ``bird`` on X, ``masto`` on Mastodon, ``sky`` on Bluesky,
``page`` on Facebook, ``pro`` on LinkedIn. Media files come from tests/fixtures, plus
``big.png`` (a PNG of 5.5 MB). ``{X}`` placeholders are filled by ``queue_text``.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

from tests.broken_cases import FIXTURES

BIG_PNG_BYTES = 5_500_000


def make_media(root: Path) -> None:
    """The media folder every case may use."""
    media = root / "media"
    media.mkdir(exist_ok=True)
    for name in ("pixel.png", "pixel.jpg", "pixel.gif", "pixel.webp", "clip.mp4", "clip.mov"):
        (media / name).write_bytes((FIXTURES / name).read_bytes())
    png = (FIXTURES / "pixel.png").read_bytes()
    (media / "big.png").write_bytes(png + b"\0" * (BIG_PNG_BYTES - len(png)))


# Texts of a known length. X counts these Latin letters 1 each, Bluesky in graphemes, the
# others in code points: all the same here.
FILL = {
    "X300": "a" * 296 + " fin",  # 300: over X's 280, under Mastodon's 500
    "X371": "mot " * 92 + "fin",  # 371
    "M510": "m" * 506 + " fin",  # 510: over Mastodon's 500
    "M495": "m" * 491 + " fin",  # 495: fits 500, not 500 less a content warning
    "B301": "b" * 297 + " fin",  # 301: over Bluesky's 300
    "F63207": "f" * 63_203 + " fin",  # over Facebook's 63,206
    "L3001": "l" * 2997 + " fin",  # over LinkedIn's 3,000
    "ALT1001": "A" * 1001,  # over X's 1,000
    "ALT1501": "A" * 1501,  # over Mastodon's 1,500
    "ALT2001": "A" * 2001,  # over Bluesky's 2,000
    "ALT4087": "A" * 4087,  # over LinkedIn's 4,086
}


@dataclass(frozen=True)
class At:
    """One diagnostic `validate` must print: where, how bad, what, for whom."""

    line: int
    column: int
    fragment: str
    account: str
    network: str
    severity: str = "error"


@dataclass(frozen=True)
class Case:
    name: str
    queue: str
    expected: tuple[At, ...]

    @property
    def exit_code(self) -> int:
        return 1 if any(a.severity == "error" for a in self.expected) else 0


def queue_text(case: Case) -> str:
    text = textwrap.dedent(case.queue).lstrip("\n")
    for key, value in FILL.items():
        text = text.replace("{" + key + "}", value)
    return text


E, W = "error", "warning"

CASES: tuple[Case, ...] = (
    # ------------------------------------------------------------------ X (bird)
    Case(
        "x-text-over-the-limit-threads-off",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [bird]
            thread: off
            text: {X371}
        """,
        (At(6, 11, "text is 371 long, the limit is 280 (threads are off)", "bird", "x"),),
    ),
    Case(
        "x-thread-false-is-off",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [bird]
            thread: false
            text: {X371}
        """,
        (At(6, 11, "text is 371 long, the limit is 280 (threads are off)", "bird", "x"),),
    ),
    Case(
        "x-network-override-text-over-the-limit",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [bird, masto]
            thread: off
            text: Court
            overrides:
              x:
                text: {X371}
        """,
        (At(9, 15, "text is 371 long, the limit is 280", "bird", "x"),),
    ),
    Case(
        "x-account-override-wins-threads-off-from-defaults",
        """
        defaults:
          thread: false
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [bird]
            text: Court
            overrides:
              x:
                text: Moyen
              bird:
                text: {X300}
        """,
        (At(12, 15, "text is 300 long, the limit is 280 (threads are off)", "bird", "x"),),
    ),
    Case(
        "x-a-thread-part-over-the-limit-threads-off",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [bird]
            thread: off
            text: Court
            parts:
              - Deuxième
              - {X300}
        """,
        (
            At(9, 9, "text is 300 long, the limit is 280 (threads are off)", "bird", "x"),
            At(6, 11, "split into a thread of 3 parts", "bird", "x", W),  # the editor's parts
        ),
    ),
    Case(
        "x-five-images",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [bird]
            text: Cinq images
            media:
              - {file: media/pixel.png, alt: un}
              - {file: media/pixel.jpg, alt: deux}
              - {file: media/pixel.png, alt: trois}
              - {file: media/pixel.jpg, alt: quatre}
              - {file: media/pixel.webp, alt: cinq}
        """,
        (At(11, 9, "5 images, x takes at most 4", "bird", "x"),),
    ),
    Case(
        "x-image-and-video-mixed",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [bird]
            text: Mélange
            media:
              - file: media/pixel.png
                alt: une image
              - file: media/clip.mp4
                alt: une vidéo
        """,
        (At(9, 9, "x cannot mix images and video/GIF in one post", "bird", "x"),),
    ),
    Case(
        "x-two-videos",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [bird]
            text: Deux vidéos
            media:
              - {file: media/clip.mp4, alt: une}
              - {file: media/clip.mov, alt: deux}
        """,
        (At(8, 9, "2 videos/GIFs, x takes at most 1", "bird", "x"),),
    ),
    Case(
        "x-alt-text-over-its-limit",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [bird]
            text: Une image
            media:
              - file: media/pixel.png
                alt: {ALT1001}
        """,
        (At(8, 14, "pixel.png: alt text is 1001 characters, x takes at most 1000", "bird", "x"),),
    ),
    Case(
        "x-image-over-5-mb",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [bird]
            text: Une grande image
            media:
              - file: media/big.png
                alt: grande
        """,
        (At(7, 9, "big.png: 5,500,000 bytes, x takes at most 5,242,880", "bird", "x"),),
    ),
    Case(
        "x-link-card-whose-link-is-not-in-the-text",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [bird]
            text: Les soldes
            link:
              url: https://example.com/soldes
              title: Soldes
        """,
        (
            At(
                7,
                7,
                "x shows no link card and https://example.com/soldes is not in the text",
                "bird",
                "x",
                W,
            ),
        ),
    ),
    # ------------------------------------------------------------------ Mastodon (masto)
    Case(
        "mastodon-text-over-the-limit-threads-off",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [masto]
            thread: off
            text: {M510}
        """,
        (At(6, 11, "text is 510 long, the limit is 500 (threads are off)", "masto", "mastodon"),),
    ),
    Case(
        "mastodon-content-warning-leaves-too-little-room",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [masto]
            thread: off
            text: {M495}
            options:
              spoiler_text: Attention
        """,
        (
            At(6, 11, "text is 495 long, the limit is 491 (threads are off)", "masto", "mastodon"),
            At(8, 21, "the content warning takes 9 characters", "masto", "mastodon", W),
        ),
    ),
    Case(
        "mastodon-five-images-from-a-network-override",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [masto, bird]
            text: Images
            media:
              - {file: media/pixel.png, alt: une}
            overrides:
              mastodon:
                media:
                  - {file: media/pixel.png, alt: un}
                  - {file: media/pixel.jpg, alt: deux}
                  - {file: media/pixel.png, alt: trois}
                  - {file: media/pixel.jpg, alt: quatre}
                  - {file: media/pixel.png, alt: cinq}
        """,
        (At(15, 13, "5 images, mastodon takes at most 4", "masto", "mastodon"),),
    ),
    Case(
        "mastodon-alt-text-over-its-limit",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [masto]
            text: Une image
            media:
              - alt: {ALT1501}
                file: media/pixel.jpg
        """,
        (
            At(
                7,
                14,
                "alt text is 1501 characters, mastodon takes at most 1500",
                "masto",
                "mastodon",
            ),
        ),
    ),
    Case(
        "mastodon-video-after-an-image",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [masto]
            text: Mélange
            media: [{file: media/pixel.jpg, alt: photo}, {file: media/clip.mov, alt: film}]
        """,
        (At(6, 50, "mastodon cannot mix images and video/GIF in one post", "masto", "mastodon"),),
    ),
    Case(
        "mastodon-a-part-over-the-limit-threads-off-from-an-override",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [masto]
            text: Court
            parts: [Deux]
            overrides:
              masto:
                thread: off
                parts:
                  - {M510}
        """,
        (
            At(11, 13, "text is 510 long, the limit is 500 (threads are off)", "masto", "mastodon"),
            At(5, 11, "split into a thread of 2 parts", "masto", "mastodon", W),
        ),
    ),
    # ------------------------------------------------------------------ Bluesky (sky)
    Case(
        "bluesky-text-over-the-limit-threads-off",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [sky]
            thread: off
            text: {B301}
        """,
        (At(6, 11, "text is 301 long, the limit is 300 (threads are off)", "sky", "bluesky"),),
    ),
    Case(
        "bluesky-five-images",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [sky]
            text: Cinq
            media:
              - {file: media/pixel.png, alt: un}
              - {file: media/pixel.png, alt: deux}
              - {file: media/pixel.png, alt: trois}
              - {file: media/pixel.png, alt: quatre}
              - {file: media/pixel.png, alt: cinq}
        """,
        (At(11, 9, "5 images, bluesky takes at most 4", "sky", "bluesky"),),
    ),
    Case(
        "bluesky-takes-no-mp4",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [sky]
            text: Une vidéo
            media:
              - {file: media/clip.mp4, alt: film}
        """,
        (At(7, 9, "clip.mp4: video/mp4 is not accepted by bluesky", "sky", "bluesky"),),
    ),
    Case(
        "bluesky-image-over-1-mb",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [sky]
            text: Grande
            media:
              - {file: media/big.png, alt: grande}
        """,
        (At(7, 9, "big.png: 5,500,000 bytes, bluesky takes at most 1,000,000", "sky", "bluesky"),),
    ),
    Case(
        "bluesky-two-gifs",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [sky]
            text: Deux GIF
            media:
              - {file: media/pixel.gif, alt: un}
              - {file: media/pixel.gif, alt: deux}
        """,
        (At(8, 9, "2 videos/GIFs, bluesky takes at most 1", "sky", "bluesky"),),
    ),
    Case(
        "bluesky-gif-with-an-image",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [sky]
            text: Mélange
            media:
              - {file: media/pixel.gif, alt: anim}
              - {file: media/pixel.png, alt: image}
        """,
        (At(8, 9, "bluesky cannot mix images and video/GIF in one post", "sky", "bluesky"),),
    ),
    Case(
        "bluesky-alt-text-over-its-limit-in-an-account-override",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [sky, masto]
            text: Image
            media:
              - {file: media/pixel.png, alt: courte}
            overrides:
              sky:
                media:
                  - file: media/pixel.png
                    alt: {ALT2001}
        """,
        (At(12, 18, "alt text is 2001 characters, bluesky takes at most 2000", "sky", "bluesky"),),
    ),
    # ------------------------------------------------------------------ Facebook (page)
    Case(
        "facebook-has-no-threads",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [page]
            text: Un
            parts:
              - Deux
        """,
        (At(7, 7, "facebook has no threads; this post has 2 parts", "page", "facebook"),),
    ),
    Case(
        "facebook-takes-no-video",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [page]
            text: Vidéo
            media:
              - file: media/clip.mp4
        """,
        (At(7, 9, "clip.mp4: facebook takes no video or GIF", "page", "facebook"),),
    ),
    Case(
        "facebook-eleven-photos",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [page]
            text: Album
            media: [{file: media/pixel.png}, {file: media/pixel.png}, {file: media/pixel.png},
              {file: media/pixel.png}, {file: media/pixel.png}, {file: media/pixel.png},
              {file: media/pixel.png}, {file: media/pixel.png}, {file: media/pixel.png},
              {file: media/pixel.png}, {file: media/pixel.jpg}]
        """,
        (At(9, 32, "11 images, facebook takes at most 10", "page", "facebook"),),
    ),
    Case(
        "facebook-takes-no-webp",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [page]
            text: WebP
            media:
              - file: media/pixel.webp
        """,
        (At(7, 9, "pixel.webp: image/webp is not accepted by facebook", "page", "facebook"),),
    ),
    Case(
        "facebook-two-webp-files-each-at-its-item",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [page]
            text: WebP
            media:
              - file: media/pixel.webp
              - file: media/pixel.jpg
              - file: media/pixel.webp
        """,
        (
            At(7, 9, "pixel.webp: image/webp is not accepted by facebook", "page", "facebook"),
            At(9, 9, "pixel.webp: image/webp is not accepted by facebook", "page", "facebook"),
        ),
    ),
    Case(
        "facebook-photo-over-4-mb",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [page]
            text: Grande
            media:
              - file: media/big.png
        """,
        (
            At(
                7,
                9,
                "big.png: 5,500,000 bytes, facebook takes at most 4,194,304",
                "page",
                "facebook",
            ),
        ),
    ),
    Case(
        "facebook-text-over-its-limit",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [page]
            text: {F63207}
        """,
        (
            At(
                5,
                11,
                "text is 63207 long, the limit is 63206 (facebook has no threads)",
                "page",
                "facebook",
            ),
        ),
    ),
    Case(
        "facebook-drops-alt-text-and-a-card-beside-photos",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [page]
            text: Photo
            media:
              - file: media/pixel.jpg
                alt: Une vitrine
            link: {url: https://example.com/soldes}
        """,
        (
            At(8, 14, "pixel.jpg: facebook has no alt text; it is dropped", "page", "facebook", W),
            At(
                9,
                11,
                "link card dropped: a Facebook post with photos shows the photos",
                "page",
                "facebook",
                W,
            ),
        ),
    ),
    # ------------------------------------------------------------------ LinkedIn (pro)
    Case(
        "linkedin-text-over-its-limit",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [pro]
            text: |
              {L3001}
        """,
        (
            At(
                5,
                11,
                "text is 3001 long, the limit is 3000 (linkedin has no threads)",
                "pro",
                "linkedin",
            ),
        ),
    ),
    Case(
        "linkedin-has-no-threads-parts-from-an-override",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [pro, bird]
            text: Un
            overrides:
              linkedin:
                parts: [Deux, Trois]
        """,
        (At(8, 16, "linkedin has no threads; this post has 3 parts", "pro", "linkedin"),),
    ),
    Case(
        "linkedin-takes-no-video",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [pro]
            text: Vidéo
            media:
              - {file: media/clip.mov, alt: film}
        """,
        (At(7, 9, "clip.mov: linkedin takes no video or GIF", "pro", "linkedin"),),
    ),
    Case(
        "linkedin-takes-no-gif",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [pro]
            text: GIF
            media:
              - {file: media/pixel.png, alt: image}
              - {file: media/pixel.gif, alt: anim}
        """,
        (At(8, 9, "pixel.gif: linkedin takes no video or GIF", "pro", "linkedin"),),
    ),
    Case(
        "linkedin-takes-no-webp",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [pro]
            text: WebP
            media:
              - {file: media/pixel.webp, alt: image}
        """,
        (At(7, 9, "pixel.webp: image/webp is not accepted by linkedin", "pro", "linkedin"),),
    ),
    Case(
        "linkedin-card-thumbnail-must-be-jpeg-or-png",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [pro]
            text: Soldes https://example.com/soldes
            link:
              url: https://example.com/soldes
              title: Soldes
              thumb: media/pixel.webp
        """,
        (
            At(
                9,
                14,
                "pixel.webp: a LinkedIn card thumbnail must be JPEG or PNG",
                "pro",
                "linkedin",
            ),
        ),
    ),
    Case(
        "linkedin-alt-text-over-its-limit",
        """
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [pro]
            text: Image
            media:
              - file: media/pixel.png
                alt: {ALT4087}
        """,
        (At(8, 14, "alt text is 4087 characters, linkedin takes at most 4086", "pro", "linkedin"),),
    ),
    # ------------------------------------------------------------------ several at once
    Case(
        "one-text-too-long-for-two-networks-of-five",
        """
        posts:
          - id: fine
            at: 2099-12-01 08:00
            accounts: [bird, masto, sky, page, pro]
            text: Bonjour
          - id: p
            at: 2099-12-01 09:00
            accounts: [bird, masto, sky, page, pro]
            thread: off
            text: {B301}
        """,
        (
            At(10, 11, "text is 301 long, the limit is 280 (threads are off)", "bird", "x"),
            At(10, 11, "text is 301 long, the limit is 300 (threads are off)", "sky", "bluesky"),
        ),
    ),
    Case(
        "a-content-warning-from-defaults",
        """
        defaults:
          options:
            spoiler_text: CW
        posts:
          - id: p
            at: 2099-12-01 09:00
            accounts: [masto]
            text: Bonjour
        """,
        (
            At(
                3,
                19,
                "the content warning takes 2 characters of every part",
                "masto",
                "mastodon",
                W,
            ),
        ),
    ),
)

# ruff: noqa: E501 - a table of found inputs, one row each
"""Inputs where a wrong boundary in URL detection changes what is found (issue 22).

Found by a differential search against ``scripts/mutation``'s surviving mutants of
``publisher/text/urls.py``: on each text, the detector as written and some small change of it
disagree. Each row is the text, then the URLs found with and without a protocol required, as
(start, end, url, has_protocol). The rows pin the long-domain walk's skips, label lengths,
underscores and punycode, which the conformance suite reaches only by chance.
"""

from __future__ import annotations

import pytest

from publisher.text.urls import extract_urls

CASES: list[tuple[str, list[tuple[int, int, str, bool]], list[tuple[int, int, str, bool]]]] = [
    ('(org.org/', [(1, 9, 'org.org/', False)], []),
    ('éco.中国.x_/-', [(1, 6, 'co.中国', False)], []),
    ('$中国.a.co/a.b.)', [(4, 12, 'a.co/a.b', False)], []),
    ('\u200bhttp://t.co/a?-', [(1, 16, 'http://t.co/a?-', True)], [(1, 16, 'http://t.co/a?-', True)]),
    ('go рф.museum/a/b.', [], []),
    ('éx_.日本.рф.xn--80ak6aa92e.a-/a)日本xt.co/x_(y)日本', [(32, 43, 'xt.co/x_(y)', False)], []),
    ('/HTTPS://a1.ab.museum.b_c.xn--p1ai/p?q=1&r=2.com', [(1, 21, 'HTTPS://a1.ab.museum', True)], [(1, 21, 'HTTPS://a1.ab.museum', True)]),
    ('-https://www.рф.verylongtld.-a.eeeeeeeeeeeeeeeeeeee/a/b)   рф.xn--p1ai.-a...  日本語HTTPS://www.123.museum/a.b.-', [(1, 15, 'https://www.рф', True), (81, 109, 'HTTPS://www.123.museum/a.b.-', True)], [(1, 15, 'https://www.рф', True), (81, 109, 'HTTPS://www.123.museum/a.b.-', True)]),
    ('go http://t.co/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.co._x?.com #HTTPS://ab.a1.1. http://t.co/orgé', [(108, 123, 'http://t.co/org', True)], [(108, 123, 'http://t.co/org', True)]),
    # A run starting with :// is still scanned; an ASCII xn-- domain whose name has no ASCII label is no domain.
    ('://http://a.co', [(3, 14, 'http://a.co', True)], [(3, 14, 'http://a.co', True)]),
    ('https://xn--a\x01.com see https://a.xn--p1ai', [(23, 41, 'https://a.xn--p1ai', True)], [(23, 41, 'https://a.xn--p1ai', True)]),
]


@pytest.mark.parametrize(("text", "found", "with_protocol"), CASES)
def test_urls_as_found(
    text: str,
    found: list[tuple[int, int, str, bool]],
    with_protocol: list[tuple[int, int, str, bool]],
) -> None:
    assert [tuple(u) for u in extract_urls(text)] == found
    assert [tuple(u) for u in extract_urls(text, without_protocol=False)] == with_protocol


def _urls(text: str, without_protocol: bool = True) -> list[str]:
    return [u.url for u in extract_urls(text, without_protocol=without_protocol)]


@pytest.mark.parametrize("without_protocol", [True, False])
def test_a_url_of_4096_characters_with_its_protocol_is_one_more_is_not(
    without_protocol: bool,
) -> None:
    """twitter-text's limit counts the protocol (here 8) and the URL, the domain encoded."""
    ascii_url = "https://example.com/" + "a" * (4088 - len("https://example.com/"))
    assert _urls(ascii_url, without_protocol) == [ascii_url]
    assert _urls(ascii_url + "a", without_protocol) == []
    # 日本 is xn--wgv71a once encoded: 8 more characters than written.
    base = "https://日本.com/"
    unicode_url = base + "a" * (4096 - 8 - 8 - len(base))
    assert _urls(unicode_url, without_protocol) == [unicode_url]
    assert _urls(unicode_url + "a", without_protocol) == []


def test_a_t_co_slug_of_40_characters_is_a_link_41_is_none() -> None:
    assert _urls("https://t.co/" + "a" * 40) == ["https://t.co/" + "a" * 40]
    assert _urls("https://t.co/" + "a" * 41) == []


@pytest.mark.parametrize(
    ("letters", "found"),
    # é * n encodes to 4 + (n + 6) characters: 63 is the longest label a domain may have.
    [(57, True), (58, False), (63, False), (64, False)],
)
def test_a_non_ascii_label_is_measured_encoded(letters: int, found: bool) -> None:
    url = "https://" + "é" * letters + ".com/x"
    assert _urls(url) == ([url] if found else [])

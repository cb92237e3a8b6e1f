# ruff: noqa: E501 - a table of texts and counts, one row each
"""The work of the URL scan on texts that reach its skips (issue 22).

``publisher.text.urls`` walks a run of labels once: a start that fails is not tried again
from the labels after it (``_Labels.resume``), a run of label characters no label follows is
skipped whole (``_skip``), a run without ``://`` is not scanned for a URL with a protocol, and
the verdict of each label is kept. These change how much the scan does, not what it finds, so
the tables of found URLs cannot pin them (a weaker skip finds the same URLs, slower). Here the
scan's steps are counted through the module's own names (the starts tried, the labels, domain
names and label runs matched, the runs skipped, the TLDs looked up): on these texts a weaker
skip or a lost memo takes more steps. The counts are the scan's as written; a change that
makes it do less is welcome, and then these rows are updated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

import publisher.text.urls as urls

PATTERNS = ("_SUBDOMAIN_RE", "_DOMAIN_NAME_RE", "_LABEL_RUN_RE", "_ASCII_LABEL_RUN_RE")
FUNCTIONS = ("_attempt", "_skip", "_tld_end")

# (text, steps of extract_urls(text), steps of extract_urls(text, without_protocol=False))
CASES: list[tuple[str, dict[str, int], dict[str, int]]] = [
    ('-1-b.a日a日日-.xn--99.é日.org.日-', {'_DOMAIN_NAME_RE': 7, '_LABEL_RUN_RE': 2, '_SUBDOMAIN_RE': 8, '_attempt': 6, '_skip': 2}, {}),
    ('#abba.com.b.-b-1é', {'_DOMAIN_NAME_RE': 5, '_LABEL_RUN_RE': 1, '_SUBDOMAIN_RE': 5, '_attempt': 3, '_skip': 1}, {}),
    ('_1__.中国.abéaé日.b.', {'_DOMAIN_NAME_RE': 6, '_SUBDOMAIN_RE': 6, '_attempt': 3}, {}),
    ('http://é_.ab.xn--b9c9.aé-b1é.b_b_b1.org:', {'_DOMAIN_NAME_RE': 8, '_LABEL_RUN_RE': 1, '_SUBDOMAIN_RE': 8, '_attempt': 5, '_skip': 1, '_tld_end': 1}, {'_DOMAIN_NAME_RE': 8, '_LABEL_RUN_RE': 1, '_SUBDOMAIN_RE': 8, '_attempt': 5, '_skip': 1, '_tld_end': 1}),
    ('(b-éb-.中国._bé-aé/a', {'_DOMAIN_NAME_RE': 7, '_LABEL_RUN_RE': 3, '_SUBDOMAIN_RE': 7, '_attempt': 6, '_skip': 3}, {}),
    ('_1b.museum.é_-é1.xn--p1ai.b.1-', {'_DOMAIN_NAME_RE': 7, '_LABEL_RUN_RE': 1, '_SUBDOMAIN_RE': 7, '_attempt': 5, '_skip': 1, '_tld_end': 1}, {}),
    ('www.a日aa__.c.co)', {'_DOMAIN_NAME_RE': 4, '_LABEL_RUN_RE': 1, '_SUBDOMAIN_RE': 4, '_attempt': 3, '_skip': 1}, {}),
    ('comx.co.b_日é日é.-._日.xn--c)', {'_DOMAIN_NAME_RE': 6, '_SUBDOMAIN_RE': 6, '_attempt': 3, '_tld_end': 1}, {}),
    ('é_.рф', {'_DOMAIN_NAME_RE': 3, '_LABEL_RUN_RE': 1, '_SUBDOMAIN_RE': 3, '_attempt': 3, '_skip': 1}, {}),
    ('-1.baaa_.xn--9.-_1_éé/x_(y)', {'_DOMAIN_NAME_RE': 8, '_LABEL_RUN_RE': 4, '_SUBDOMAIN_RE': 8, '_attempt': 7, '_skip': 4}, {}),
    ('a.co https://b.co c.co', {'_DOMAIN_NAME_RE': 6, '_SUBDOMAIN_RE': 6, '_attempt': 3}, {'_DOMAIN_NAME_RE': 2, '_SUBDOMAIN_RE': 2, '_attempt': 1}),
    ('go ' + 'a-b.' * 70 + 'com', {'_ASCII_LABEL_RUN_RE': 71, '_DOMAIN_NAME_RE': 2, '_SUBDOMAIN_RE': 71, '_attempt': 1, '_tld_end': 1}, {}),
    ('go ' + ('é日.' + 'ab.') * 50 + 'co x', {'_ASCII_LABEL_RUN_RE': 150, '_DOMAIN_NAME_RE': 2, '_SUBDOMAIN_RE': 101, '_attempt': 1, '_tld_end': 50}, {}),
    ('go ' + 'ab_c.' * 60 + 'a.co', {'_ASCII_LABEL_RUN_RE': 181, '_DOMAIN_NAME_RE': 2, '_SUBDOMAIN_RE': 62, '_attempt': 1, '_tld_end': 60}, {}),
]


class _Counted:
    """A compiled pattern whose ``match`` calls are counted."""

    def __init__(self, name: str, pattern: re.Pattern[str], counts: dict[str, int]) -> None:
        self._name, self._pattern, self._counts = name, pattern, counts

    def match(self, *args: Any) -> re.Match[str] | None:
        self._counts[self._name] = self._counts.get(self._name, 0) + 1
        return self._pattern.match(*args)

    def search(self, *args: Any) -> re.Match[str] | None:
        return self._pattern.search(*args)


def _counting(name: str, function: Callable[..., Any], counts: dict[str, int]) -> Callable[..., Any]:
    def counted(*args: Any) -> Any:
        counts[name] = counts.get(name, 0) + 1
        return function(*args)

    return counted


@pytest.mark.parametrize(("text", "steps", "with_protocol_steps"), CASES)
def test_the_scan_takes_these_steps(
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    steps: dict[str, int],
    with_protocol_steps: dict[str, int],
) -> None:
    counts: dict[str, int] = {}
    for name in PATTERNS:
        monkeypatch.setattr(urls, name, _Counted(name, getattr(urls, name), counts))
    for name in FUNCTIONS:
        monkeypatch.setattr(urls, name, _counting(name, getattr(urls, name), counts))
    urls.extract_urls(text)
    assert dict(sorted(counts.items())) == steps
    counts.clear()
    urls.extract_urls(text, without_protocol=False)
    assert dict(sorted(counts.items())) == with_protocol_steps

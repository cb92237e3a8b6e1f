# ruff: noqa: E501 - a table of found inputs, one row each
"""Inputs where a wrong boundary in the thread splitter changes the parts (issue 22).

Found by a differential search against ``scripts/mutation``'s surviving mutants: each row is
an input on which the splitter as written and some small change of it disagree, with the
splitter's answer as written. The rows pin the search's subtle edges (where a part stops in a
URL or a mention that counts less than it is long, clause and sentence cuts near the half-full
threshold, clusters that start with a space, the numbering's width), which no rule-by-rule test
reaches as directly.
"""

from __future__ import annotations

import pytest

from publisher.text import LengthRule
from publisher.text.split import split_thread
from tests.text.rules import chars, graphemes, mastodon, x_weighted

RULES = {"x": x_weighted, "graphemes": graphemes, "mastodon": mastodon, "chars": chars}

# (text, rule, limit, numbered, the parts, or the error's message)
CASES: list[tuple[str, str, int, bool, list[str] | str]] = [
    ('#tag\xa0a.co', 'graphemes', 8, False, ['#tag', 'a.co']),
    ('$CASH. こんにちは', 'x', 7, True, 'the limit is too small: even one character (with the thread numbering) does not fit'),
    ('a, longerword, ', 'graphemes', 10, True, ['a, (1/4)', 'long (2/4)', 'erwo (3/4)', 'rd, (4/4)']),
    ('@user ́example.com. ', 'x', 17, True, ['@user (1/3)', ' ́example.c (2/3)', 'om. (3/3)']),
    ('https://example.com/p', 'x', 4, True, 'the limit is too small: even one character (with the thread numbering) does not fit'),
    ('日本語.\n\né.\n\né.) bb! 👍🏽.) ', 'chars', 7, True, 'a single character (2 code points that display as one) is longer than the limit allows'),
    ('こんにちは ́http://x.co/bbbbbbbbbbbbbbbbbbbbbbbbb', 'x', 18, True, ['こんにちは (1/6)', ' ́ (2/6)', 'http://x.c (3/6)', 'o/bbbbbbbbbb (4/6)', 'bbbbbbbbbbbb (5/6)', 'bbb (6/6)']),
    # The word's beginning is a URL (.co) and the word is not: the word cut before it does not fit.
    ('https://本日語日語日日本日.coxx 日本', 'x', 24, False, ['https://本日語日語日日本日.co', 'xx 日本']),
    ('https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n\n@u@host.social', 'mastodon', 12, True, ['https: (1/7)', '//aaaa (2/7)', 'aaaaaa (3/7)', 'aaaaaa (4/7)', 'aaaaaa (5/7)', 'aaaaaa (6/7)', 'aa\n\n@u@host.social (7/7)']),
    ('👍🏽  https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa. $CASH、@user', 'graphemes', 19, True, ['👍🏽 (1/5)', 'https://aaaaa (2/5)', 'aaaaaaaaaaaaa (3/5)', 'aaaaaaaaaaaa. (4/5)', '$CASH、@user (5/5)']),
    ('a\n\nexample.com.\n\nhttp://x.co/bbbbbbbbbbbbbbbbbbbbbbbbb。é', 'chars', 37, False, ['a\n\nexample.com.', 'http://x.co/bbbbbbbbbbbbbbbbbbbbbbbbb', '。é']),
    ('こんにちは? こんにちは — xxxxxxxxxxxx  xxxxxxxxxxxx.\n\nword.) xxxxxxxxxxxx\na', 'graphemes', 4, False, ['こんにち', 'は?', 'こんにち', 'は —', 'xxxx', 'xxxx', 'xxxx', 'xxxx', 'xxxx', 'xxxx', '.', 'word', '.)', 'xxxx', 'xxxx', 'xxxx', 'a']),
    ('a.co https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com ́ccc.\n\n@user @user', 'mastodon', 29, True, ['a.co (1/3)', 'https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com (2/3)', ' ́ccc.\n\n@user @user (3/3)']),
    ('a ́https://example.com/p, longerword\t#tag\xa0https://example.com/p longerword  a? bb', 'mastodon', 13, True, ['a (1/18)', ' ́ (2/18)', 'https (3/18)', '://ex (4/18)', 'ample (5/18)', '.com/ (6/18)', 'p, (7/18)', 'longe (8/18)', 'rword (9/18)', '#tag (10/18)', 'https (11/18)', '://ex (12/18)', 'ample (13/18)', '.com/ (14/18)', 'p (15/18)', 'longe (16/18)', 'rword (17/18)', 'a? bb (18/18)']),
    ('a  xxxxxxxxxxxx, a、https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.) longerword 日本語. @u@host.social', 'mastodon', 27, True, ['a  xxxxxxxxxxxx, a、 (1/4)', 'https://aaaaaaaaaaaaa (2/4)', 'aaaaaaaaaaaaaaaaa.) (3/4)', 'longerword 日本語. @u@host.social (4/4)']),
    ('xxxxxxxxxxxx。https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa、example.com.\n\nwordwordwordwordwordwordwordword\n\n👍🏽 ́ccc a.\n\né ', 'x', 7, False, ['xxxxxxx', 'xxxxx。', 'https:/', '/aaaaaa', 'aaaaaaa', 'aaaaaaa', 'aaaaaaa', 'aaa、ex', 'ample.c', 'om.', 'wordwor', 'dwordwo', 'rdwordw', 'ordword', 'word', '👍🏽 ́ccc', 'a.\n\né']),
    ('こんにちは https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa、#tag\tbb\n\nxxxxxxxxxxxx.) #tag.) https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com.) 👍🏽', 'chars', 9, True, 'a single character (2 code points that display as one) is longer than the limit allows'),
    ('wordwordwordwordwordwordwordword! word — こんにちは ́https://example.com/p. 👍🏽? example.com、https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com\xa0word\nhttp://x.co/bbbbbbbbbbbbbbbbbbbbbbbbb.) example.com\thttps://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com ́https://example.com/p é\n\n日本語', 'mastodon', 10, True, 'the limit is too small: even one character (with the thread numbering) does not fit'),
    # Found by hand for the survivors after the entity fix (2026-12-03):
    # the sentence end is looked for in the 8 characters before a space, from the text's start;
    ('!)) ab cd', 'chars', 6, False, ['!))', 'ab cd']),
    ('.)))))))) ab cd', 'chars', 12, False, ['.)))))))) ab', 'cd']),
    # a word whose beginning is a URL and the word is not: the rest fits once a shorter piece does not;
    ('aaaa bbbb https://example.cox', 'x', 20, False, ['aaaa bbbb', 'https://example.cox']),
    ('x https://example.cox', 'x', 20, False, ['x', 'https://example.cox']),
    # a cluster that ends in a space (U+0600 prepends to it): a part never ends inside it;
    ('a\u0600 b', 'chars', 3, False, ['a\u0600 ', 'b']),
    ('ab a\u0600 cd ef', 'chars', 5, False, ['ab', 'a\u0600 cd', 'ef']),
    ('word a\u0600 ', 'chars', 5, False, ['word', 'a\u0600 ']),
    # the text's first cut may be the best one (a paragraph after a half-full first cluster);
    ('e' + '\u0301' * 10 + '\n\na b c d e f g h', 'chars', 20, False, ['e' + '\u0301' * 10, 'a b c d e f g h']),
    # Chinese inside a hashtag is no word cut; after a character at the text's start it is.
    ('#日本語日本語 ab', 'graphemes', 4, False, ['#日本語', '日本語', 'ab']),
    ('日abcdefgh', 'chars', 5, False, ['日', 'abcde', 'fgh']),
]


def _rule(name: str, limit: int) -> LengthRule:
    return RULES[name](limit)


@pytest.mark.parametrize(("text", "rule", "limit", "numbered", "expected"), CASES)
def test_split_as_found(
    text: str, rule: str, limit: int, numbered: bool, expected: list[str] | str
) -> None:
    length_rule = _rule(rule, limit)
    if isinstance(expected, str):
        with pytest.raises(ValueError, match="^" + expected.replace("(", r"\(").replace(")", r"\)") + "$"):
            split_thread(text, length_rule, numbered=numbered)
        return
    parts = split_thread(text, length_rule, numbered=numbered)
    assert parts == expected
    assert all(length_rule.count(p) <= limit for p in parts)

"""What a YAML document may cost, and YAML 1.2 line breaks with libyaml.

libyaml is fast but reads YAML 1.1, and builds whatever the text asks for:

* **Aliases.** An alias repeats its anchor's value, so nested aliases multiply: ten lines
  (a "billion laughs") stand for gigabytes once anything walks the value (the content hash
  serializes it). The loader shares the repeated values, so loading is cheap; what costs is
  every later walk. ``check_aliases`` counts, on the node tree and before any value is built,
  what the aliases repeat, and refuses the alias that takes it over ``MAX_ALIAS_EXPANSION``
  (or that sits inside its own anchor), at its line and column. Small anchors, aliases and
  merge keys (``<<: *defaults``) stay allowed.
* **Line breaks.** YAML 1.1 counts U+0085, U+2028 and U+2029 as line breaks; YAML 1.2 and
  every editor do not. libyaml would put every later line number one off, fold the break in
  a quoted text into a space, and end a plain or block text at it. ``hide_breaks`` swaps them
  for private-use characters the text does not hold before libyaml reads it, and
  ``restore_scalars`` puts them back in the node tree, so they are ordinary characters with
  exact positions, as YAML 1.2 says.
* **Characters YAML refuses** (NUL, other control characters): libyaml says where in bytes;
  ``bad_character`` says where in lines and columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import yaml

from publisher.limits import MAX_ALIAS_EXPANSION

# Line breaks for YAML 1.1 (and libyaml), ordinary characters for YAML 1.2.
YAML11_BREAKS = ("\x85", "\u2028", "\u2029")
_PRIVATE_USE = range(0xF8FF, 0xE000, -1)  # the end of the BMP private-use area, downwards


class RefusedError(yaml.MarkedYAMLError):
    """A document refused for what it would cost (not for its syntax), located."""

    def __init__(self, message: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem=message, problem_mark=mark)


def hide_breaks(text: str) -> tuple[str, dict[str, str]]:
    """``text`` with YAML 1.1's extra line breaks swapped for characters it does not hold,
    and how to put them back. Costs a scan of the text when it has none."""
    restore: dict[str, str] = {}
    if not any(ch in text for ch in YAML11_BREAKS):
        return text, restore
    spare = (chr(c) for c in _PRIVATE_USE if chr(c) not in text)
    for ch in YAML11_BREAKS:
        if ch in text:
            stand_in = next(spare)
            text = text.replace(ch, stand_in)
            restore[stand_in] = ch
    return text, restore


def restore_text(text: str, restore: Mapping[str, str]) -> str:
    for stand_in, ch in restore.items():
        text = text.replace(stand_in, ch)
    return text


def restore_scalars(root: yaml.Node, restore: Mapping[str, str]) -> None:
    """Put ``hide_breaks``'s characters back in every scalar, before values are built."""
    if not restore:
        return
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            node.value = restore_text(node.value, restore)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(x for pair in node.value for x in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def check_aliases(
    root: yaml.Node,
    text: str,
    loader: type[yaml.CSafeLoader],
    limit: int = MAX_ALIAS_EXPANSION,
) -> None:
    """Refuse the alias that repeats too much, or that sits inside its own anchor.

    One walk of the node tree, each node once: a node met a second time is an alias, and
    repeats the weight (nodes and characters) its anchor held. Nodes are met in document
    order, as the parser's alias events are, so the n-th repeat is the n-th alias.
    """
    if "&" not in text or "*" not in text:
        return  # no anchor or no alias: nothing is repeated
    weight: dict[int, int] = {}  # a node's weight, once it is complete
    opened: dict[int, int] = {}  # collections being walked: the running total at their start
    total = repeated = aliases = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, closing = stack.pop()
        key = id(node)
        if closing:
            weight[key] = total - opened.pop(key)
            continue
        if key in opened:
            aliases += 1
            raise RefusedError(
                "an alias inside its own anchor: the value would contain itself",
                _alias_mark(text, loader, aliases),
            )
        known = weight.get(key)
        if known is not None:
            aliases += 1
            total += known
            repeated += known
            if repeated > limit:
                raise RefusedError(
                    f"too much repeated through aliases: up to this alias, aliases repeat more "
                    f"than {limit:,} values and characters (an alias of aliases multiplies "
                    "what it repeats); write the values out",
                    _alias_mark(text, loader, aliases),
                )
            continue
        if isinstance(node, yaml.ScalarNode):
            weight[key] = 1 + len(node.value)
            total += weight[key]
            continue
        opened[key] = total
        total += 1
        stack.append((node, True))
        if isinstance(node, yaml.MappingNode):
            children = [x for pair in node.value for x in pair]
        else:
            children = list(node.value)
        stack.extend((child, False) for child in reversed(children))


def _alias_mark(text: str, loader: type[yaml.CSafeLoader], n: int) -> yaml.Mark | None:
    """Where the n-th alias of ``text`` is (the node tree does not keep it); error path only."""
    seen = 0
    parser = loader(text)
    try:
        while parser.check_event():
            event = parser.get_event()
            if isinstance(event, yaml.AliasEvent):
                seen += 1
                if seen == n:
                    return cast(yaml.Mark, event.start_mark)
    finally:
        parser.dispose()
    return None


def position(text: str, index: int) -> tuple[int, int]:
    """Line and column (1-based) of ``text[index]``, lines ended by \\n, \\r\\n or \\r."""
    head = text[:index]
    line = head.count("\n") + head.count("\r") - head.count("\r\n") + 1
    start = max(head.rfind("\n"), head.rfind("\r")) + 1
    return line, index - start + 1


def bad_character(text: str, err: yaml.reader.ReaderError) -> tuple[int, int, str]:
    """Where the character libyaml refused is, and what to tell the editor.

    libyaml reports a byte offset; the first occurrence of the character is the one it
    stopped at (it reads in order and would have stopped at an earlier one).
    """
    ch = chr(err.character) if isinstance(err.character, int) else str(err.character)
    index = text.find(ch)
    line, col = position(text, index) if index >= 0 else (1, 1)
    if ch == "\x00":
        name = "a NUL character"
    elif ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0:
        name = f"the control character U+{ord(ch):04X}"
    else:
        name = f"the character U+{ord(ch):04X}"
    return line, col, f"{name} is not allowed in YAML; remove it"

"""Bounds on what an editor's file may hold, so every input costs bounded time and memory.

One place for them: the queue parser enforces them (a located error), and the text layer and
its tests rely on them (the property test renders texts up to ``MAX_TEXT_CHARS``).
"""

from __future__ import annotations

# The queue file as a whole: far above any real plan (10,000 posts are ~3 MB), far below
# what would hurt a small VM.
MAX_QUEUE_FILE_BYTES = 32 * 1024 * 1024

# One text field (text, a thread part, an override's text, alt text, a first comment):
# Facebook's limit (63,206 characters) is the largest any network takes.
MAX_TEXT_CHARS = 65_536

# A post id: a slug an editor types, echoed in logs, ids and URLs.
MAX_ID_CHARS = 128

# A short field: a time, a language tag. Long enough for any real one, short enough that an
# error message can quote it.
MAX_SHORT_CHARS = 64

# What YAML aliases may add to the file, counted as the nodes and characters they repeat: an
# alias repeats its anchor, so nested aliases multiply (a 1 KB "billion laughs" repeats to
# gigabytes). Bounded like the file itself: aliases may at most double it.
MAX_ALIAS_EXPANSION = MAX_QUEUE_FILE_BYTES

# Times editors write (at, not_after), as years: every instant in this range, in any zone and
# with any lateness the engine adds, stays far inside what datetime and the databases hold.
MIN_YEAR = 1970
MAX_YEAR = 9000

"""The separators of the post ids a rule generates (``tips@2026-12-07``, ``tips~2026-12-07T0900``).

Here, apart from the rules themselves (``publisher.repeat``), so that what only reads such an
id (the audit, which ``--help`` loads) does not load the queue's models with them.
"""

from __future__ import annotations

# Editors' ids may not hold them, so nothing collides with a generated id.
REPEAT_MARK = "@"
EVERGREEN_MARK = "~"
# Between a queue file's name and a post's id when the queue is many files
# (``team-a.yaml:launch``, publisher.queueset): the last one splits them.
FILE_MARK = ":"

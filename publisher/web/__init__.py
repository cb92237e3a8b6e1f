"""The read-only web view: the calendar, previews, status and audit, as pages.

Everything shown comes from what the commands already compute (the plan as ``dry-run`` and
``validate`` read it, ``status``, ``audit``): nothing here changes the file or the store. Served
by ``publisher web`` on an editor's machine and by the daemon (``[web]``), which the command
line hands it (``publisher.commands.run`` cannot import a layer above it).
"""

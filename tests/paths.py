"""Where the shared conformance material and peers are: ``shared/`` beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PUBLISHER_SHARED", str(ROOT.parent / "shared")))
CONFORMANCE = SHARED / "conformance"

"""The injectable clock: jobs ask it for "now", so tests age data without sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

Clock = Callable[[], datetime]

"""The grading harness (HW4, and any homework folder): execute student notebooks, probe their
functions, check, score, report."""
from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

ROOT = Path(__file__).resolve().parent.parent


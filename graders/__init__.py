"""HW4 grading harness: execute student notebooks, probe their functions, check, score, report."""
from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

ROOT = Path(__file__).resolve().parent.parent


def assets_dir() -> Path:
    """The folder holding the assignment notebooks, models and data (see graders.assets)."""
    from graders.assets import ASSETS_DIR

    return ASSETS_DIR

"""Make the repository importable (graders.assets, tools.build_assets) and register the marker."""
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: rebuilds assets; deselect with -m 'not slow'")

"""Where the shipped data lives."""

from pathlib import Path


def rules_dir() -> Path:
    """The shipped rules/ folder: inside the installed package (wheel) or at the repository root (source checkout)."""
    packaged = Path(__file__).parent / "rules"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "rules"

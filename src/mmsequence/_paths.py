"""Where the shipped data lives: inside the installed package (wheel), or in the source checkout."""

from pathlib import Path

_PACKAGE = Path(__file__).parent
_CHECKOUT = Path(__file__).resolve().parents[2]


def rules_dir() -> Path:
    """The shipped rules/ folder."""
    packaged = _PACKAGE / "rules"
    return packaged if packaged.is_dir() else _CHECKOUT / "rules"


def vignettes_dir() -> Path:
    """The shipped vignettes (examples/vignettes/ in the checkout and in the package, beside the FHIR
    charts some of them read)."""
    packaged = _PACKAGE / "examples" / "vignettes"
    return packaged if packaged.is_dir() else _CHECKOUT / "examples" / "vignettes"


def plan_vignettes_dir() -> Path:
    """The shipped plan vignettes (examples/plan-vignettes/ in the checkout and in the package)."""
    packaged = _PACKAGE / "examples" / "plan-vignettes"
    return packaged if packaged.is_dir() else _CHECKOUT / "examples" / "plan-vignettes"


def cds_hooks_examples_dir() -> Path:
    """The shipped CDS Hooks requests (examples/cds-hooks/, in the checkout and in the package)."""
    packaged = _PACKAGE / "examples" / "cds-hooks"
    return packaged if packaged.is_dir() else _CHECKOUT / "examples" / "cds-hooks"

"""The ``mmsequence validate`` subcommand: the safety invariants on generated histories."""

from __future__ import annotations

import argparse
import sys

from ..errors import missing_extra
from ..policy import load_policy


def _validate(args: argparse.Namespace) -> str:
    try:
        from . import validation
    except ImportError as error:
        raise missing_extra("validate", "testing", error.name) from None
    import secrets

    policy = load_policy(args.policy)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**32)
    bar = validation.ProgressBar(args.examples)
    try:
        report = validation.validate(args.examples, seed, policy, progress=bar)
    finally:
        bar.close()
    print(validation.summary(report, policy), file=sys.stderr)
    args.exit_code = 0 if report.document is None else 1
    return "" if report.document is None else validation.vignette(report, policy)


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def add_validate_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``validate`` to the CLI's subcommands (Hypothesis is imported only when it runs)."""
    va = commands.add_parser("validate", help="run every safety invariant on generated histories")
    va.add_argument("--examples", type=_count, default=1000, metavar="N", help="histories to generate (default 1000)")
    va.add_argument("--seed", type=int, help="random seed (default: a new one, printed)")
    va.add_argument("--policy", help="site policy file (YAML or JSON) to evaluate under (default: the shipped one)")
    va.set_defaults(run=_validate)

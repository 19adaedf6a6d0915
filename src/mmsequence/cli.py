"""The ``mmsequence`` command: argument wiring only."""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Sequence

from .errors import MmsequenceError
from .evaluation import evaluate
from .render import to_json, to_text
from .catalog import load_catalog
from .policy import load_policy
from .rulebook import check_references, load_rulebook


def _evaluate(args: argparse.Namespace) -> str:
    assessment = evaluate(args.file, as_of=args.as_of, policy=args.policy)
    return to_json(assessment) if args.format == "json" else to_text(assessment)


def _rules(args: argparse.Namespace) -> str:
    rulebook = load_rulebook()
    if args.check:
        catalog = load_catalog()
        check_references(rulebook, catalog)
        load_policy()
        return f"{len(rulebook.rules)} rules, {len(catalog.agents)} agents, default policy: OK ({rulebook.digest})\n"
    rows = [("id", "pack", "effect", "evidence", "version", "citation")]
    rows += [(r.id, r.pack, r.effect, r.evidence, str(r.version), r.citation) for r in rulebook.rules]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[5][:80] + "\n" for row in rows)


# --- mmsequence validate: the safety invariants on generated histories (mmsequence.testing) ---

def _validate(args: argparse.Namespace) -> str:
    try:
        from .testing import validation
    except ImportError as error:
        raise MmsequenceError(f"validate needs {error.name}: pip install 'mmsequence[testing]'") from None
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


def _add_validate(commands: argparse._SubParsersAction) -> None:
    va = commands.add_parser("validate", help="run every safety invariant on generated histories")
    va.add_argument("--examples", type=_count, default=1000, metavar="N", help="histories to generate (default 1000)")
    va.add_argument("--seed", type=int, help="random seed (default: a new one, printed)")
    va.add_argument("--policy", help="site policy file (YAML or JSON) to evaluate under (default: the shipped one)")
    va.set_defaults(run=_validate)

# --- end of mmsequence validate ---


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmsequence", description="Sequence T-cell redirecting therapies in myeloma.")
    commands = parser.add_subparsers(dest="command", required=True)
    ev = commands.add_parser("evaluate", help="assess the candidate therapies of one patient document")
    ev.add_argument("file", help="patient-history document (JSON)")
    ev.add_argument("--as-of", help="evaluation date YYYY-MM-DD (default: the document's as_of, else today)")
    ev.add_argument("--format", choices=("json", "text"), default="json")
    ev.add_argument("--policy", help="site policy file (YAML or JSON)")
    ev.set_defaults(run=_evaluate)
    rules = commands.add_parser("rules", help="list the rules, or check the rule files")
    rules.add_argument("--check", action="store_true", help="validate every rule file; exit 1 on any problem")
    rules.set_defaults(run=_rules)
    _add_validate(commands)
    return parser


def _one_line(text: str) -> str:
    """Control characters quoted from the input (a newline in a field name, a terminal escape) shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        output = args.run(args)
    except MmsequenceError as error:
        problems = getattr(error, "problems", None) or (str(error),)
        for problem in problems:
            print(f"mmsequence: {_one_line(problem)}", file=sys.stderr)
        return 1 if args.command == "rules" else 2
    sys.stdout.write(output)
    return getattr(args, "exit_code", 0)


if __name__ == "__main__":
    sys.exit(main())

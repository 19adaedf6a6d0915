"""The ``mmsequence`` command: argument wiring only."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ._paths import plan_vignettes_dir, vignettes_dir
from ._version import __version__
from .catalog import knowledge_problems as catalog_knowledge_problems
from .catalog import load_catalog
from .errors import InputError, MmsequenceError, OutputError, RuleFileError, missing_extra
from .evaluator import evaluator_for
from .fhir.command import add_fhir_command
from .history import OVERRIDE_REASONS, Override, parse_overrides
from .i18n import ENGLISH, LANGUAGES
from .knowledge import as_day
from .omop.command import add_omop_commands
from .policy import load_policy
from .render import to_json, to_text
from .rulebook import Rule, Rulebook, check_references, check_translations, knowledge_problems, load_rulebook
from .schema import json_schema
from .service.command import add_serve_command
from .service.dev import add_dev_keys_command
from .testing.command import add_validate_command


def _overrides(specs: list[str]) -> tuple[Override, ...]:
    """``RULE:CANDIDATE:REASON[:NOTE]`` strings as validated overrides."""
    items = []
    for spec in specs:
        parts = spec.split(":", 3)
        if len(parts) < 3:
            raise InputError([f"--override: {spec!r} is not RULE:CANDIDATE:REASON[:NOTE]"])
        items.append(dict(zip(("rule", "candidate", "reason", "note"), parts)))
    return parse_overrides(items, "--override")


def _evaluate(args: argparse.Namespace) -> str:
    evaluator = evaluator_for(load_policy(args.policy))
    assessment = evaluator.evaluate(evaluator.read(args.file), as_of=args.as_of, overrides=_overrides(args.override),
                                    myeloma_gate=False if args.no_myeloma_gate else None)
    if (args.format or ("json" if args.lang == ENGLISH else "text")) == "json":
        if args.lang != ENGLISH:
            raise InputError([f"--lang: {args.lang} is for --format text, the default with --lang "
                              "(JSON is for programs and stays English)"])
        return to_json(assessment)
    return to_text(assessment, language=args.lang, verbose=args.verbose)


def _plan(args: argparse.Namespace) -> str:
    from .plan_text import plans_json, plans_text

    evaluator = evaluator_for(load_policy(args.policy))
    months = None
    if args.months is not None:
        try:
            months = [int(m) for m in args.months.split(",")]
        except ValueError:
            raise InputError([f"--months: {args.months!r} is not whole numbers of months separated by commas"]) from None
    candidates = [c.strip() for c in args.candidates.split(",")] if args.candidates else None
    plans = evaluator.plan(evaluator.read(args.file), steps=args.steps, as_of=args.as_of, candidates=candidates,
                           months=months)
    if (args.format or ("json" if args.lang == ENGLISH else "text")) == "json":
        if args.lang != ENGLISH:
            raise InputError([f"--lang: {args.lang} is for --format text, the default with --lang "
                              "(JSON is for programs and stays English)"])
        return plans_json(plans)
    return plans_text(plans, top=args.top, language=args.lang)


def _rules(args: argparse.Namespace) -> str:
    rulebook = load_rulebook(args.rules_dir)
    if args.check:
        catalog = load_catalog(args.rules_dir / "agents.yaml" if args.rules_dir else None)
        check_references(rulebook, catalog)
        check_translations(rulebook)
        undated = knowledge_problems(rulebook) + [f"agents.yaml: {p}" for p in catalog_knowledge_problems(catalog)]
        if undated:
            raise RuleFileError(undated)
        load_policy()
        return (f"{len(rulebook.rules)} rules, {len(rulebook.criteria)} ranking criteria, {len(catalog.agents)} agents, "
                f"default policy: OK ({rulebook.digest})\n")
    if args.knowledge:
        return _knowledge_table(rulebook, args)
    rows = [("id", "pack", "effect", "evidence", "version", "reviewed", "citation")]
    rows += [(r.id, r.pack, r.effect, r.evidence, str(r.version), _day(rulebook, r), r.citation) for r in rulebook.rules]
    rows += [(c.id, "rank", c.way, c.evidence, "-", "-", c.citation) for c in rulebook.criteria]  # rules/rank.yaml, in order
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    return "".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[6][:80] + "\n" for row in rows)


def _day(rulebook: Rulebook, rule: Rule) -> str:
    reviewed = rulebook.reviewed(rule)
    return reviewed.on.isoformat() if reviewed is not None else "-"


def _knowledge_table(rulebook: Rulebook, args: argparse.Namespace) -> str:
    """Each dated part, rule and catalog source: when it was last checked, when it is due, and whether
    that is past on the day given (``--as-of``, default today); exit code 1 when something is due."""
    day = as_day(args.as_of) if args.as_of else datetime.date.today()
    if day is None:
        raise InputError([f"--as-of: {args.as_of!r} is not a date (YYYY-MM-DD)"])
    catalog = load_catalog(args.rules_dir / "agents.yaml" if args.rules_dir else None)
    rows = [("part", "reviewed", "due", "")]
    if catalog.reviewed is not None:
        rows.append(("catalog", catalog.reviewed.on.isoformat(), catalog.reviewed.due.isoformat(), ""))
        rows += [(f"  source {s.id}", s.reviewed.isoformat(), "", "") for s in catalog.sources]
    for pack in rulebook.packs:
        rows.append((f"pack {pack.name}", pack.reviewed.on.isoformat(), pack.reviewed.due.isoformat(), ""))
        rows += [(f"  {r.id}", r.reviewed.on.isoformat(), r.reviewed.due.isoformat(), "")
                 for r in rulebook.rules if r.pack == pack.name and r.reviewed is not None]
    rows = [row if not row[2] or row[0] == "part" or datetime.date.fromisoformat(row[2]) >= day
            else (*row[:3], "DUE") for row in rows]
    args.exit_code = 1 if any(row[3] for row in rows[1:]) else 0
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "".join("  ".join(c.ljust(w) for c, w in zip(row[:3], widths)) + "  " + row[3] + "\n" for row in rows)


def _vignettes(args: argparse.Namespace) -> str:
    if args.plans:
        from .testing.plan_vignettes import run_plan_vignettes

        results = run_plan_vignettes([Path(s) for s in args.paths] or [plan_vignettes_dir()], args.policy)
    else:
        from .testing.vignettes import run_vignettes

        results = run_vignettes([Path(s) for s in args.paths] or [vignettes_dir()], args.policy)
    width = max((len(r.name) for r in results), default=4)
    lines = [f"{'vignette'.ljust(width)}  result"]
    for r in results:
        lines.append(f"{r.name.ljust(width)}  {'pass' if r.passed else 'FAIL'}")
        lines += [f"{''.ljust(width)}    {m}" for m in r.mismatches]
    failed = sum(not r.passed for r in results)
    lines.append(f"{len(results) - failed} passed, {failed} failed")
    args.exit_code = 1 if failed or not results else 0
    return "\n".join(lines) + "\n"


def _batch(args: argparse.Namespace) -> str:
    from .batch import default_processes, read_done, run_batch  # multiprocessing and msgspec: for batch runs only
    from .batch_table import check_table_path, write_batch_table

    if args.table:
        check_table_path(Path(args.table))
    earlier = read_done(Path(args.out)).failed  # a resumed run does not assess them again
    try:
        written, failed = run_batch(
            Path(args.input), Path(args.out), as_of=args.as_of, policy=args.policy,
            processes=args.processes or default_processes(), progress=True, full=args.full_records,
        )
    except OSError as error:  # what was written stays, whole lines only: a rerun resumes after it
        raise OutputError(f"{args.out}: cannot be written ({error.strerror or error}); rerun to resume") from None
    args.exit_code = 1 if failed or earlier else 0
    remaining = f"; {earlier} lines with errors from an earlier run remain in {args.out}" if earlier else ""
    print(f"mmsequence: {written} written to {args.out}, {failed} with errors{remaining}", file=sys.stderr)
    if args.table:
        rows = write_batch_table(Path(args.out), Path(args.table))
        print(f"mmsequence: {rows} rows (patient x candidate) of {args.out} written to {args.table}", file=sys.stderr)
    return ""


def _board(args: argparse.Namespace) -> str:
    try:
        from .board.command import run_board
    except ModuleNotFoundError as error:
        raise missing_extra("the board command", "board", error.name) from None
    done = run_board(args.inputs, args.as_of, args.out, args.format, args.policy, args.lang, args.paper)
    print(f"mmsequence: {done}", end="", file=sys.stderr)   # like batch and audit: stdout stays empty
    return ""


class _Version(argparse.Action):
    """``--version``: the library version and the ruleset digest evaluations report under the
    default policy (rule files, agent catalog and policy together), worked out only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the version and the ruleset digest, and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        digest = evaluator_for(load_policy()).ruleset.digest
        sys.stdout.write(f"mmsequence {__version__}\nruleset {digest} (shipped rules, agent catalog and default policy)\n")
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmsequence", description="Sequence T-cell redirecting therapies in myeloma.")
    parser.add_argument("-V", "--version", action=_Version)
    commands = parser.add_subparsers(dest="command", required=True)
    ev = commands.add_parser("evaluate", help="assess the candidate therapies of one patient document")
    ev.add_argument("file", help="patient-history document or FHIR R4 Bundle (JSON)")
    ev.add_argument("--as-of", help="evaluation date YYYY-MM-DD (default: the document's as_of, else today)")
    ev.add_argument("--format", choices=("json", "text"),
                    help="default: json, or text when --lang names another language than English")
    ev.add_argument("--policy", help="site policy file (YAML or JSON)")
    ev.add_argument("--lang", choices=LANGUAGES, default=ENGLISH, help="language of the text output (default: en; JSON stays English)")
    ev.add_argument("--no-myeloma-gate", action="store_true",
                    help="assess a record that holds no multiple myeloma diagnosis or records a death")
    ev.add_argument("--verbose", action="store_true",
                    help="with --format text, list every record not used (JSON always has them: derived.fhir.not_used)")
    ev.add_argument("--override", action="append", default=[], metavar="RULE:CANDIDATE:REASON[:NOTE]",
                    help="set aside a finding, with a reason: " + ", ".join(OVERRIDE_REASONS))
    ev.set_defaults(run=_evaluate)
    plan = commands.add_parser("plan", help="rank orders of the next two or three therapies (sequence plans)")
    plan.add_argument("file", help="patient-history document or FHIR R4 Bundle (JSON)")
    plan.add_argument("--steps", type=int, choices=(2, 3), default=3, help="therapies per plan (default: 3)")
    plan.add_argument("--as-of", help="the plan's day YYYY-MM-DD (default: the document's as_of, else today)")
    plan.add_argument("--candidates", metavar="A,B,...",
                      help="therapies to order, comma-separated (default: the document's, else every approved TCRT and TCRT regimen)")
    plan.add_argument("--months", metavar="N,N",
                      help="assumed months from each step's start to relapse, one per step before the last "
                           "(default: relapses unknown, later dates written relative to them)")
    plan.add_argument("--format", choices=("json", "text"),
                      help="default: json, or text when --lang names another language than English")
    plan.add_argument("--top", type=int, default=5, help="plans shown in the text output (default: 5)")
    plan.add_argument("--policy", help="site policy file (YAML or JSON)")
    plan.add_argument("--lang", choices=LANGUAGES, default=ENGLISH, help="language of the text output (default: en; JSON stays English)")
    plan.set_defaults(run=_plan)
    rules = commands.add_parser("rules", help="list the rules, or check the rule files")
    rules.add_argument("--check", action="store_true", help="validate every rule file; exit 1 on any problem")
    rules.add_argument("--rules-dir", type=Path, help="a copy of rules/ to read instead of the shipped one")
    rules.add_argument("--knowledge", action="store_true",
                       help="when each part of the knowledge was last checked and is due; exit 1 if anything is due")
    rules.add_argument("--as-of", help="the day --knowledge judges what is due (default: today)")
    rules.set_defaults(run=_rules)
    batch = commands.add_parser("batch", help="assess a cohort: JSONL or a folder in, JSONL out, resumable")
    batch.add_argument("input", help="a JSONL file (one document per line) or a folder of JSON documents")
    batch.add_argument("--out", required=True, help="JSONL output; documents already in it are skipped")
    batch.add_argument("--as-of", help="evaluation date YYYY-MM-DD for every document")
    batch.add_argument("--policy", help="site policy file (YAML or JSON)")
    batch.add_argument("--processes", type=int, help="worker processes (default: all cores)")
    batch.add_argument("--table", metavar="FILE.parquet|FILE.csv",
                       help="also write every patient of --out as a flat table, one row per patient and candidate"
                            " (Parquet needs the table extra)")
    batch.add_argument("--full-records", action="store_true",
                       help="write every line as the whole assessment (the ruleset, policy, course and each finding in full)"
                            " instead of the compact record after a header")
    batch.set_defaults(run=_batch)
    vig = commands.add_parser("vignettes", help="run vignettes (expected verdicts) and print a pass table")
    vig.add_argument("paths", nargs="*", help="vignette files or folders (default: the shipped examples/vignettes)")
    vig.add_argument("--policy", help="site policy file to run them under")
    vig.add_argument("--plans", action="store_true",
                     help="run plan vignettes (expected sequence plans; default: the shipped examples/plan-vignettes)")
    vig.set_defaults(run=_vignettes)
    schema = commands.add_parser("schema", help="print the JSON Schema of the patient-history document")
    schema.set_defaults(run=lambda args: json_schema())
    board = commands.add_parser("board", help="tumor-board report (HTML or Markdown) for a batch of patient documents")
    board.add_argument("inputs", nargs="+", help="patient documents (JSON), or folders of them")
    board.add_argument("--as-of", required=True, help="board date YYYY-MM-DD: every patient is evaluated as of this day")
    board.add_argument("--out", required=True, help="report file to write")
    board.add_argument("--format", choices=("html", "md", "pdf"),
                       help="default: md for a .md file, pdf for a .pdf file, else html (pdf prints the HTML in headless Chromium)")
    board.add_argument("--policy", help="site policy file (YAML or JSON)")
    board.add_argument("--lang", choices=LANGUAGES, default=ENGLISH, help="language of the report (default: en)")
    board.add_argument("--paper", choices=("a4", "letter"), default="a4", help="printed page, landscape (default: a4)")
    board.set_defaults(run=_board)
    add_fhir_command(commands)
    add_serve_command(commands)
    add_dev_keys_command(commands)
    add_validate_command(commands)
    add_omop_commands(commands)
    return parser


def _one_line(text: str) -> str:
    """Control characters quoted from the input (a newline in a field name, a terminal escape) shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        output = args.run(args)
    except OutputError as error:
        for problem in error.problems:
            print(f"mmsequence: {_one_line(problem)}", file=sys.stderr)
        return 1
    except MmsequenceError as error:
        for problem in error.problems:
            print(f"mmsequence: {_one_line(problem)}", file=sys.stderr)
        return 1 if args.command == "rules" else 2
    except OSError as error:  # a file a command appends to (an audit's journal) on a full or read-only disk
        print(f"mmsequence: {_one_line(str(error.filename or 'a file'))}: {error.strerror or error}", file=sys.stderr)
        return 1
    try:
        sys.stdout.write(output)
        sys.stdout.flush()  # a full disk shows here, not after exit 0
    except OSError as error:
        with contextlib.suppress(OSError):  # what could not be written is not written again at exit
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (stands in for stdout until exit)
        print(f"mmsequence: the standard output: cannot be written ({error.strerror or error})", file=sys.stderr)
        return 1
    return getattr(args, "exit_code", 0)


if __name__ == "__main__":
    sys.exit(main())

"""`micrograd exercises`: build micrograd yourself, with feedback on your own code.

    micrograd exercises list                   the exercises, one per line
    micrograd exercises start value [FILE]     write a starter file (never overwrites one)
    micrograd exercises check value FILE.py    check your file; exit 0 when every check passes
    micrograd exercises mistakes [--draw DIR]  the lecture's classic mistakes, wrong beside right
"""
import os

from micrograd.cli.common import CLIError, float_arg


def add_parser(subparsers):
    from micrograd.exercises import DEFAULT_TIMEOUT, EXERCISES
    p = subparsers.add_parser(
        "exercises", help="exercises with automatic feedback: write micrograd yourself",
        description="Exercises that follow the lecture: write the code, and the checker says "
                    "what is right and, when it is not, which operation, which input, the "
                    "expected number beside yours and what that usually means.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("list", help="the exercises, one per line",
                   description="List the exercises: name, then what it asks for."
                   ).set_defaults(func=run_list)
    start = sub.add_parser(
        "start", help="write an exercise's starter file",
        description="Write NAME's starter file (signatures and TODOs, no solutions) to FILE, "
                    "NAME.py by default. An existing file is never overwritten.")
    start.add_argument("name", metavar="NAME", choices=list(EXERCISES),
                       help=f"one of: {', '.join(EXERCISES)}")
    start.add_argument("file", metavar="FILE", nargs="?", help="where to write it (NAME.py)")
    start.set_defaults(func=run_start)
    check = sub.add_parser(
        "check", help="check your solution to an exercise",
        description="Check FILE, your solution to exercise NAME. FILE is your own code: the "
                    "checker imports it and runs it, in a separate process that is stopped "
                    "after --timeout seconds. Exit status 0 when every check passes, 1 "
                    "otherwise.")
    check.add_argument("name", metavar="NAME", choices=list(EXERCISES),
                       help=f"one of: {', '.join(EXERCISES)}")
    check.add_argument("file", metavar="FILE.py", help="your solution (it is imported and run)")
    check.add_argument("--timeout", type=float_arg(0, strict=True), default=DEFAULT_TIMEOUT,
                       metavar="SECONDS",
                       help=f"stop your code after this long (default {DEFAULT_TIMEOUT:g})")
    check.set_defaults(func=run_check)
    mistakes = sub.add_parser(
        "mistakes", help="the lecture's classic mistakes, each beside the right version",
        description="Run the lecture's classic mistakes (= instead of +=, no topological "
                    "sort, no zero_grad), each next to the right version: the wrong number "
                    "beside the right one.")
    mistakes.add_argument("--draw", metavar="DIR", help="also draw each graph, right and "
                          "wrong, as SVG files in DIR (needs Graphviz's dot)")
    mistakes.set_defaults(func=run_mistakes)
    return p


def run_list(args):
    from micrograd.exercises import EXERCISES
    width = max(map(len, EXERCISES))
    for name, exercise in EXERCISES.items():
        print(f"{name:<{width}}  {exercise.SUMMARY}")
    return 0


def run_start(args):
    from micrograd import exercises
    path = args.file or f"{args.name}.py"
    if os.path.exists(path):
        raise CLIError(f"{path} already exists; not overwriting it (give another FILE)")
    exercises.start(args.name, path)
    print(f"wrote {path}: fill in its TODOs, then run\n"
          f"    micrograd exercises check {args.name} {path}")
    return 0


def run_check(args):
    from micrograd import exercises
    from micrograd.exercises.runner import OUTPUT_KEPT
    try:
        result = exercises.check(args.name, args.file, timeout=args.timeout)
    except exercises.CheckerError as e:       # the checker's own failure, not the learner's
        raise CLIError(f"{e}; your file was not checked") from None
    print(result.feedback)
    if result.output_dropped:
        print(f"(your code printed {result.output_dropped} bytes more than the checker keeps, "
              f"{OUTPUT_KEPT} bytes: they were counted and dropped)")
    return 0 if result.passed else 1


def run_mistakes(args):
    from micrograd.exercises import mistakes
    if args.draw:
        from micrograd.viz import INSTALL_HINT, dot_available
        if not dot_available():
            raise CLIError(f"drawing needs Graphviz's dot program: {INSTALL_HINT}")
        os.makedirs(args.draw, exist_ok=True)
    for i, demo in enumerate(mistakes.demos(), 1):
        print(demo, end="\n\n")
        if args.draw and demo.graphs:
            paths = mistakes.draw(demo, args.draw, i)
            print("  drawn: " + ", ".join(str(p) for p in paths), end="\n\n")
    return 0

"""`micrograd site OUT/`: the lab, the stepper and the exercises as a static site
(micrograd.site)."""


def add_parser(subparsers):
    p = subparsers.add_parser(
        "site", help="build the static site: lab, stepper and exercises, nothing to install",
        description="Write a static site into OUT: the lab, the backprop stepper and the "
                    "exercises, running this micrograd in the browser (Pyodide, fetched once "
                    "from the npm registry and copied into OUT). Serve OUT with any static "
                    "host, e.g. 'python -m http.server -d OUT'. OUT must be new, empty, or a "
                    "site built before; any other folder is refused.")
    p.add_argument("out", metavar="OUT", help="the folder to write the site into")
    p.set_defaults(func=run)
    return p


def run(args):
    import sys

    from micrograd.cli.common import CLIError
    from micrograd.site import build_site
    from micrograd.site.pyodide_dist import PyodideUnavailable
    try:
        done = build_site(args.out, log=sys.stderr)
    except PyodideUnavailable as e:
        raise CLIError(e) from None
    print(f"wrote {args.out}: {done['files']} files, {done['bytes'] / 1e6:.1f} MB; serve it "
          f"with\n    python -m http.server -d {args.out}")
    return 0

"""`micrograd lab`: live, interactive training in the browser (micrograd.lab)."""
import argparse


def _port(s):
    if not s.isdigit() or not 0 <= int(s) <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 0 to 65535, got {s!r}")
    return int(s)


def add_parser(subparsers):
    p = subparsers.add_parser(
        "lab", help="train in the browser, live: data, model, boundary, neurons, backprop",
        description="Start the lab, a local web page that trains an MLP on the real engine "
                    "while you watch: pick the data and the network, press Play, click a point "
                    "to see its forward and backward pass. Listens on 127.0.0.1 only; the URL "
                    "it prints carries a random token. Ctrl-C stops it.")
    p.add_argument("--port", type=_port, default=0, metavar="N",
                   help="port to listen on (default: a free one)")
    p.add_argument("--no-browser", action="store_true",
                   help="print the URL only, do not open a browser")
    p.set_defaults(func=run)
    return p


def run(args):
    from micrograd.lab.server import serve
    try:
        return serve(port=args.port, open_browser=not args.no_browser)
    except OSError as e:
        if e.errno in (98, 48, 10048):             # EADDRINUSE on Linux, macOS, Windows
            raise OSError(f"port {args.port} is already in use; pick another with --port, "
                          f"or leave it out for a free one") from None
        raise

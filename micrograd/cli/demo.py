"""`micrograd demo`: the original micrograd demo notebook, end to end, with pictures."""
import os
import random
import time

from micrograd.cli.common import (EXIT_INTERRUPTED, CtrlC, chain_callbacks, check_writable,
                                  describe, finite_metrics, int_arg, output_names,
                                  save_model_file,
                                  say_interrupted, say_stopped, snapshotter, write_plots)


def add_parser(subparsers):
    p = subparsers.add_parser(
        "demo", help="the original micrograd demo: an MLP learns the two moons",
        description="The micrograd demo notebook, exactly: 100 moons (noise 0.1, seed 1337), "
                    "MLP(2, [16, 16, 1]), hinge loss + 1e-4 L2, full-batch SGD with "
                    "lr = 1.0 - 0.9*k/100. Writes decision_boundary.png, history.png, "
                    "training.gif and model.json into --out.")
    p.add_argument("--out", default=os.path.join("out", "demo"), metavar="DIR",
                   help="output folder (default: out/demo)")
    p.add_argument("--steps", type=int_arg(1), default=100, help="training steps (default: 100)")
    p.add_argument("--no-gif", action="store_true", help="skip the animation (faster)")
    p.add_argument("--gif-every", type=int_arg(1), default=5, metavar="N",
                   help="one animation frame every N steps (default: 5)")
    p.add_argument("--print-every", type=int_arg(0), default=10, metavar="N",
                   help="print the notebook's 'step k loss ..., accuracy ..%%' line every N "
                        "steps (default: 10); 0 shows a progress bar instead")
    p.set_defaults(func=run)
    return p


def run(args):
    import numpy as np

    from micrograd import __version__, data, optim
    from micrograd.nn import MLP
    from micrograd.train import fit

    check_writable(args.out, output_names(2, gif=not args.no_gif))
    # The notebook, cell for cell; its model fused (one node per neuron's w·x+b, the same
    # numbers as the lecture's graph of * and +, many times faster: the demo draws no graph).
    np.random.seed(1337)
    random.seed(1337)
    X, y = data.make_moons(n_samples=100, noise=0.1)
    model = MLP(2, [16, 16, 1], fused=True)
    name, n_params = describe(model)
    print(f"micrograd demo: {name}, {n_params} parameters, on 100 moons; hinge loss + 1e-4 L2, "
          f"full-batch SGD, lr = 1.0 - 0.9*k/100, {args.steps} steps")

    def show(k, model, history):
        if args.print_every and (k % args.print_every == 0 or k == args.steps - 1):
            print(f"step {k} loss {history.loss[-1]}, accuracy {history.accuracy[-1] * 100}%",
                  flush=True)

    snapshots, snap = (None, None) if args.no_gif else \
        snapshotter(model, args.gif_every, args.steps)
    with CtrlC() as ctrl_c:
        history = fit(model, X, y, loss="hinge", optimizer="sgd", lr=1.0,
                      schedule=optim.linear_decay(1.0, 0.1, 100), steps=args.steps, alpha=1e-4,
                      progress=not args.print_every, callback=chain_callbacks(show, snap))
        if history.interrupted:
            say_interrupted(history, args.steps)
        meta = {"command": "demo", "dataset": "moons", "samples": 100, "noise": 0.1,
                "seed": 1337, "test_fraction": 0.0, "loss": "hinge", "alpha": 1e-4,
                "classes": 2, "optimizer": "sgd", "schedule": "1.0 - 0.9*k/100",
                "steps": history.steps, "final_loss": history.final_loss,
                "train_accuracy": None,                        # until evaluated, below
                "interrupted": history.interrupted, "micrograd": __version__}
        written = [save_model_file(args.out, model, meta)]
        try:
            ctrl_c.saved(history)
            data_loss, acc = finite_metrics(model, X, y, "hinge", "the moons data")
            meta["train_accuracy"] = acc
            with ctrl_c.deferred():
                save_model_file(args.out, model, meta, update=True)
            if history.steps:
                # Both numbers on the final weights: the step lines' loss is measured before
                # their step's update, so the last of them is one update behind this line.
                loss = data_loss + 1e-4 * sum(p.data * p.data for p in model.parameters())
                print(f"after {history.steps} steps: loss {loss:.6f} (hinge + L2), accuracy "
                      f"{acc:.1%}, both on the final weights ({history.seconds:.1f} s "
                      f"training)", flush=True)
            t0 = time.perf_counter()
            write_plots(args.out, model, X, y, history, snapshots, written)
        except KeyboardInterrupt:
            say_stopped(written)
            return EXIT_INTERRUPTED
    print("wrote " + ", ".join(written) + f" ({time.perf_counter() - t0:.1f} s)")
    return EXIT_INTERRUPTED if history.interrupted else 0

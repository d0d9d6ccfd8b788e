"""`micrograd train`: train an MLP on a toy dataset, save the model and its plots."""
import os
import random

from micrograd.cli.common import (AUTO_BATCH_ABOVE, DATASET_NAMES, EXIT_INTERRUPTED,
                                  MAX_SAMPLES, MAX_SEED, CLIError, CtrlC, check_writable,
                                  describe, finite_metrics, float_arg, int_arg, layers_arg,
                                  output_names,
                                  save_model_file, say_interrupted, say_stopped, snapshotter,
                                  write_plots)
from micrograd.labels import LOSS_NAMES
from micrograd.nn import HIDDEN_ACTIVATIONS


def add_parser(subparsers):
    p = subparsers.add_parser(
        "train", help="train an MLP on a toy dataset",
        description="Train an MLP on a dataset, report training and held-out accuracy, and "
                    "write model.json, history.png and (for 2-D data) decision_boundary.png "
                    "into --out. The output layer is sized from the loss and the number of "
                    "classes. Ctrl-C stops after the current step and saves the model before "
                    "anything else; a second Ctrl-C skips the plots, never the model.")
    p.add_argument("--dataset", default="moons", metavar="NAME",
                   help=f"one of {DATASET_NAMES} (default: moons)")
    p.add_argument("--samples", type=int_arg(1, MAX_SAMPLES), default=None, metavar="N",
                   help=f"number of samples, at most {MAX_SAMPLES} (default: the dataset's; "
                        "digits: all 1797)")
    p.add_argument("--noise", type=float_arg(0.0), default=None,
                   help="dataset noise (blobs: cluster std; default: the dataset's)")
    p.add_argument("--seed", type=int_arg(0, MAX_SEED), default=0,
                   help="seed for the data, the split, the initial weights and the batches "
                        "(default: 0)")
    p.add_argument("--test-fraction", type=float_arg(0.0, high=1.0), default=0.2, metavar="F",
                   help="share of the data held out for testing, 0 for none (default: 0.2)")
    p.add_argument("--layers", type=layers_arg, default=[16, 16], metavar="SIZES",
                   help="hidden layer sizes, comma separated (default: 16,16)")
    p.add_argument("--activation", default="relu", choices=HIDDEN_ACTIVATIONS,
                   help="hidden-layer activation (default: relu); the output layer is linear")
    p.add_argument("--loss", default=None, choices=LOSS_NAMES,
                   help="default: hinge for two classes, cross_entropy for more")
    p.add_argument("--optimizer", default="sgd", choices=("sgd", "adam"),
                   help="default: sgd")
    p.add_argument("--lr", type=float_arg(0.0, strict=True), default=None,
                   help="learning rate (default: sgd 1.0 with hinge, as the demo, 0.05 with "
                        "mse, 0.3 with bce and cross_entropy; adam 0.01)")
    p.add_argument("--momentum", type=float_arg(0.0, high=1.0), default=0.0,
                   help="SGD momentum (default: 0)")
    p.add_argument("--schedule", default="linear", choices=("constant", "linear", "cosine", "step"),
                   help="learning-rate schedule: linear goes down to lr/10 as in the demo, "
                        "cosine to 0, step halves it every quarter (default: linear)")
    p.add_argument("--steps", type=int_arg(1), default=100,
                   help="optimizer steps (default: 100)")
    p.add_argument("--batch-size", type=int_arg(1), default=None, metavar="N",
                   help="mini-batch size (default: the whole training set every step, or "
                        f"32 if it has more than {AUTO_BATCH_ABOVE} examples)")
    p.add_argument("--alpha", type=float_arg(0.0), default=1e-4,
                   help="L2 regularisation strength (default: 1e-4, as the demo)")
    p.add_argument("--out", default=os.path.join("out", "train"), metavar="DIR",
                   help="output folder (default: out/train)")
    p.add_argument("--gif", action="store_true",
                   help="also write training.gif (2-D data only)")
    p.add_argument("--no-plots", action="store_true", help="write model.json only")
    p.add_argument("--compiled", action="store_true",
                   help="trace the training step once with micrograd.compile, replay it fast")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args):
    from micrograd import __version__, data, io
    from micrograd.nn import MLP
    from micrograd.train import fit, output_size

    if args.dataset == "digits" and args.noise is not None:
        raise CLIError("--noise does not apply to digits (the images are what they are)")
    try:
        X, y = data.load_dataset(args.dataset, n_samples=args.samples, noise=args.noise,
                                 seed=args.seed)
    except ValueError as e:          # the library names its arguments; say the flags instead
        raise CLIError(str(e).replace("n_samples", "--samples")) from None
    classes = data.n_classes(y)
    loss = args.loss or ("hinge" if classes == 2 else "cross_entropy")
    n_out = output_size(loss, classes)
    try:
        X_tr, X_te, y_tr, y_te = data.holdout(X, y, args.test_fraction, args.seed)
    except ValueError as e:
        raise CLIError(f"--test-fraction {args.test_fraction} of --samples {len(y)}: "
                       f"too few samples to hold some out of every class ({e})") from None
    if args.gif and X.shape[1] != 2:
        raise CLIError(f"--gif needs 2-D data; {args.dataset} has {X.shape[1]} features")
    lr = args.lr
    if lr is None:          # the demo's 1.0 for hinge; softer for the losses that need it
        lr = 0.01 if args.optimizer == "adam" else {"hinge": 1.0, "mse": 0.05}.get(loss, 0.3)
    batch_size = args.batch_size
    if batch_size is None and len(y_tr) > AUTO_BATCH_ABOVE:
        batch_size = 32     # full batches of thousands of examples are slow on scalars
    options = {"momentum": args.momentum} if args.optimizer == "sgd" else {}
    if args.momentum and args.optimizer != "sgd":
        raise CLIError("--momentum is for --optimizer sgd")
    sizes = [X.shape[1], *args.layers, n_out]
    n_params = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    if n_params > io.MAX_PARAMETERS:          # a model too big to build, or to load again
        raise CLIError(f"--layers {','.join(map(str, args.layers))} makes {n_params} "
                       f"parameters; at most {io.MAX_PARAMETERS}")
    check_writable(args.out, output_names(X.shape[1], gif=args.gif, plots=not args.no_plots))

    random.seed(args.seed)
    # The command never draws the graph: one node per neuron's w·x+b (the same numbers as the
    # lecture's graph of * and +, many times faster).
    model = MLP(X.shape[1], args.layers + [n_out], activation=args.activation,
                output_activation="linear", fused=True)
    name, n_params = describe(model)
    held = f", {len(y_te)} held out" if y_te is not None else ""
    batch = f"batches of {batch_size}" if batch_size else "full batch"
    print(f"train: {args.dataset}, {len(y)} samples ({len(y_tr)} for training{held}), "
          f"{classes} classes; {name} {args.activation}, {n_params} parameters; {loss} loss; "
          f"{args.optimizer} lr {lr:g} ({args.schedule}), {args.steps} steps, {batch}")

    snapshots, snap = (None, None)
    if args.gif and not args.no_plots:
        snapshots, snap = snapshotter(model, max(1, args.steps // 20), args.steps)
    with CtrlC() as ctrl_c:
        history = fit(model, X_tr, y_tr, loss=loss, optimizer=args.optimizer, lr=lr,
                      schedule=args.schedule, steps=args.steps, batch_size=batch_size,
                      alpha=args.alpha, seed=args.seed, progress=not args.no_progress,
                      callback=snap, compiled=args.compiled, X_val=X_te, y_val=y_te,
                      optimizer_options=options)
        if history.interrupted:
            say_interrupted(history, args.steps)
        meta = {"command": "train", "dataset": args.dataset, "samples": len(y),
                "noise": args.noise, "seed": args.seed, "test_fraction": args.test_fraction,
                "train_samples": len(y_tr), "test_samples": 0 if y_te is None else len(y_te),
                "classes": classes, "loss": loss, "layers": args.layers,
                "activation": args.activation, "optimizer": args.optimizer, "lr": lr,
                "momentum": args.momentum, "schedule": args.schedule, "steps": history.steps,
                "batch_size": batch_size, "alpha": args.alpha,
                "train_loss": None, "train_accuracy": None,      # until evaluated, below
                "test_loss": None, "test_accuracy": None,
                "interrupted": history.interrupted, "seconds": round(history.seconds, 3),
                "micrograd": __version__}
        written = [save_model_file(args.out, model, meta)]
        try:
            ctrl_c.saved(history)
            noise = None if args.noise is None else f"--noise {args.noise:g}"
            try:
                train_loss, train_acc = finite_metrics(model, X_tr, y_tr, loss,
                                                       "the training data", noise)
                test_loss, test_acc = (None, None) if y_te is None else \
                    finite_metrics(model, X_te, y_te, loss, "the held-out data", noise)
            except CLIError as e:
                raise CLIError(f"{e} (wrote {written[0]}, without a loss or accuracy)") from None
            meta.update(train_loss=train_loss, train_accuracy=train_acc, test_loss=test_loss,
                        test_accuracy=test_acc)
            with ctrl_c.deferred():
                save_model_file(args.out, model, meta, update=True)
            line = f"{history.steps} steps in {history.seconds:.1f} s: training data loss " \
                   f"(no L2) {train_loss:.4f}, training accuracy {train_acc:.1%}"
            if test_acc is not None:
                line += f", held-out accuracy {test_acc:.1%}"
            print(line, flush=True)
            if not args.no_plots:
                write_plots(args.out, model, X_tr, y_tr, history, snapshots, written)
        except KeyboardInterrupt:
            say_stopped(written)
            return EXIT_INTERRUPTED
    print("wrote " + ", ".join(written))
    return EXIT_INTERRUPTED if history.interrupted else 0

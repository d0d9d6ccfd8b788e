"""`micrograd gpt`: microgpt on micrograd. `train` a character-level GPT on names (or any
file of one document per line) and save it; `sample` new documents from a saved model."""
import math
import os
import random
import sys
import time
from types import SimpleNamespace

from micrograd.cli.common import (EXIT_INTERRUPTED, MAX_SEED, CLIError, CtrlC, Parser,
                                  check_writable, float_arg, int_arg)

MODEL_FILE = "model.json"
MAX_STEPS = 10_000_000
MAX_NUM = 10_000              # samples per command


def add_parser(subparsers):
    p = subparsers.add_parser(
        "gpt", help="microgpt: train a tiny GPT on names, sample new ones",
        description="Karpathy's microgpt on micrograd's scalar engine: a character-level GPT "
                    "(embeddings, RMSNorm, causal multi-head attention, a ReLU MLP, Adam). "
                    "With the defaults it computes microgpt's numbers bit for bit.")
    sub = p.add_subparsers(dest="gpt_command", metavar="ACTION", required=True,
                           parser_class=Parser)
    t = sub.add_parser(
        "train", help="train on names (or --data FILE) and save the model",
        description="Train one document per step (microgpt's loop: the documents shuffled by "
                    "--seed, Adam with a learning rate falling linearly to 0) and write "
                    "model.json into --out. Ctrl-C stops after the current step and saves "
                    "what was trained.")
    t.add_argument("--data", metavar="FILE", default=None,
                   help="a UTF-8 text file, one document per line (default: the names "
                        "shipped with micrograd, 32,033 of them)")
    t.add_argument("--steps", type=int_arg(1, MAX_STEPS), default=1000,
                   help="training steps, one document each (default: 1000)")
    t.add_argument("--seed", type=int_arg(0, MAX_SEED), default=42,
                   help="seed of the shuffle and the initial weights (default: 42, microgpt's)")
    t.add_argument("--n-embd", type=int_arg(1, 4096), default=16, metavar="N",
                   help="embedding width (default: 16)")
    t.add_argument("--n-layer", type=int_arg(1, 4096), default=1, metavar="N",
                   help="transformer blocks (default: 1)")
    t.add_argument("--n-head", type=int_arg(1, 4096), default=4, metavar="N",
                   help="attention heads; must divide --n-embd (default: 4)")
    t.add_argument("--block-size", type=int_arg(1, 4096), default=16, metavar="N",
                   help="context length in tokens; longer documents are cut (default: 16)")
    t.add_argument("--lr", type=float_arg(0.0, strict=True), default=0.01,
                   help="Adam's learning rate at step 0 (default: 0.01)")
    t.add_argument("--out", default=os.path.join("out", "gpt"), metavar="DIR",
                   help="output folder (default: out/gpt)")
    t.add_argument("--compiled", action="store_true",
                   help="train on one compiled program (C where a compiler is found, else "
                        "numpy), traced once for every document: the same losses and model, "
                        "bit for bit, many times faster")
    t.add_argument("--no-progress", action="store_true",
                   help="no progress bar: print microgpt's log line every step instead")
    t.set_defaults(func=run_train)

    s = sub.add_parser(
        "sample", help="sample new documents from a saved model",
        description="Draw documents one character at a time from softmax(logits / "
                    "temperature), until the end token or the context is full.")
    s.add_argument("--model", required=True, metavar="FILE",
                   help="a model.json written by 'micrograd gpt train'")
    s.add_argument("--num", type=int_arg(1, MAX_NUM), default=20,
                   help="how many samples (default: 20)")
    s.add_argument("--temperature", type=float_arg(0.0, strict=True), default=0.5,
                   help="> 0; low is safe, high is creative (default: 0.5, microgpt's)")
    s.add_argument("--seed", type=int_arg(0, MAX_SEED), default=42, help="default: 42")
    s.add_argument("--prefix", default="", metavar="TEXT",
                   help="start every sample with TEXT (its characters must be in the "
                        "model's vocabulary)")
    s.set_defaults(func=run_sample)
    return p


def _progress(steps, enabled):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=steps, desc="training", unit="step", dynamic_ncols=True, leave=True)


def run_train(args):
    from micrograd import __version__, data, gpt, io
    from micrograd.gpt import modelfile
    from micrograd.train import TrainingDiverged

    if args.n_embd % args.n_head:
        raise CLIError(f"--n-embd {args.n_embd} is not a multiple of --n-head {args.n_head}: "
                       f"each head reads n_embd / n_head of the embedding")
    docs = data.names() if args.data is None else data.load_documents(args.data)
    rng = random.Random(args.seed)     # microgpt's order: shuffle, then the weights
    rng.shuffle(docs)
    tok = gpt.CharTokenizer.from_documents(docs)
    config = gpt.GPTConfig(tok.vocab_size, n_embd=args.n_embd, n_head=args.n_head,
                           n_layer=args.n_layer, block_size=args.block_size)
    if config.num_params > io.MAX_PARAMETERS:
        raise CLIError(f"this model has {config.num_params} parameters; at most "
                       f"{io.MAX_PARAMETERS}")
    check_writable(args.out, [MODEL_FILE])
    model = gpt.GPT(config, rng)
    source = "names" if args.data is None else args.data
    print(f"gpt train: {source}, {len(docs)} documents, vocabulary of {tok.vocab_size} "
          f"(with BOS); {model}; {args.steps} steps, lr {args.lr:g}", flush=True)

    opt = gpt.MicroGPTAdam(model.parameters(), lr=args.lr, steps=args.steps)
    step_fn = lambda tokens: gpt.train_step(model, opt, tokens)      # noqa: E731
    trainer = None
    if args.compiled:
        try:
            from micrograd.gpt.compiled import CompiledTrainer
        except ImportError as e:
            raise CLIError(f"--compiled needs numpy ({e}); pip install numpy") from None
        trainer = step_fn = CompiledTrainer(model, opt,
                                            positions=gpt.training.longest(model, docs))
    bar = _progress(args.steps, not args.no_progress)
    history = SimpleNamespace(interrupted=False, steps=0, losses=[])
    start = time.perf_counter()
    with CtrlC() as ctrl_c:
        try:
            for step in range(args.steps):
                try:
                    loss = step_fn(tok.encode(docs[step % len(docs)]))
                except (ValueError, OverflowError) as e:     # log(0), exp overflow: diverged
                    raise TrainingDiverged(f"step {step + 1}: {e}") from None
                except ArithmeticError as e:    # the compiled step refuses a loss not finite
                    loss = getattr(e, "loss", math.nan)
                if not math.isfinite(loss):
                    raise TrainingDiverged(f"loss became {loss} at step {step + 1}")
                history.losses.append(loss)
                history.steps = step + 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
                else:
                    print(f"step {step + 1:4d} / {args.steps:4d} | loss {loss:.4f}", flush=True)
                if ctrl_c.presses:
                    history.interrupted = True
                    break
        finally:
            if bar is not None:
                bar.close()
            if trainer is not None:
                trainer.sync()          # the model's Values hold the trained weights again
        seconds = time.perf_counter() - start
        if history.interrupted:
            print(f"interrupted after {history.steps} of {args.steps} steps: keeping the "
                  f"model as it is and writing it", file=sys.stderr, flush=True)
        meta = {"command": "gpt train", "data": source, "documents": len(docs),
                "seed": args.seed, "lr": args.lr, "steps": history.steps,
                "planned_steps": args.steps, "final_loss": history.losses[-1],
                "interrupted": history.interrupted, "seconds": round(seconds, 3),
                "compiled": bool(args.compiled),
                "micrograd": __version__}
        path = modelfile.save_gpt(model, tok, os.path.join(args.out, MODEL_FILE), meta)
        ctrl_c.saved(history)
    last = sum(history.losses[-50:]) / len(history.losses[-50:])
    print(f"{history.steps} steps in {seconds:.1f} s; mean loss of the last "
          f"{min(50, history.steps)} steps {last:.4f}")
    print(f"wrote {path}")
    return EXIT_INTERRUPTED if history.interrupted else 0


def run_sample(args):
    from micrograd import gpt
    from micrograd.gpt import modelfile
    model, tok = modelfile.load_gpt(args.model)
    prefix = args.prefix
    if prefix.strip() != prefix:
        raise CLIError("--prefix must not start or end with spaces (documents are stripped)")
    rng = random.Random(args.seed)
    for i in range(args.num):
        print(f"sample {i + 1:2d}: {gpt.sample(model, tok, rng, args.temperature, prefix)}")
    return 0

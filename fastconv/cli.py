"""The `fastconv` command line: train (the main job), info."""
import argparse
import sys


def _info(args):
    import fastconv

    info = fastconv.cpu_info()
    print(f"fastconv {fastconv.__version__}")
    print(f"cpu:             {info['cpu']}")
    forced = f" (forced by FASTCONV_ISA={info['forced_isa']})" if info["forced_isa"] else ""
    print(f"isa in use:      {info['isa']}{forced}")
    print(f"isas available:  {', '.join(info['available_isas'])}")
    print(f"threads:         {info['threads']} (cores available: {info['cores']})")
    omp = info["openmp_version"]
    print(f"openmp:          {'none (built without OpenMP)' if omp is None else omp} "
          f"runtime: {info['openmp_runtime'] or 'not loaded'}")
    print(f"compiler:        {info['compiler']}")
    print(f"flags:           {info['flags']}")
    return 0


def _plot(history, path):
    """Loss and accuracy per epoch, train and validation, side by side."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise SystemExit("fastconv train: --plot needs matplotlib: pip install 'fastconv[plot]' "
                         "(or pip install matplotlib)") from None
    h = history.history
    epochs = range(1, len(h["loss"]) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, title in ((axes[0], "loss", "loss"), (axes[1], "acc", "accuracy")):
        ax.plot(epochs, h[key], "o-", label="train")
        if f"val_{key}" in h:
            ax.plot(epochs, h[f"val_{key}"], "o-", label="test")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"Saved loss/accuracy curves to {path}")


LR_DECAY = {"seed": 1.0, "lenet5": 0.8}  # per-epoch learning-rate factor of each model's recipe


def _train(args):
    import numpy as np

    import fastconv
    from fastconv.datasets import mnist
    from fastconv.nn import callbacks, optimizers, set_random_seed, zoo

    if args.threads:
        fastconv.set_num_threads(args.threads)
    set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = mnist.load_data(args.data_dir)
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    scale = np.float32(1.0 if args.raw_pixels else 1.0 / 255.0)
    x_train = x_train[..., None].astype(np.float32) * scale
    x_test = x_test[..., None].astype(np.float32) * scale
    model = zoo.MODELS[args.model](backend=args.backend)
    model.summary()
    model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizers.Adam(learning_rate=args.lr),
                  metrics=["acc"])
    lr_decay = args.lr_decay if args.lr_decay is not None else LR_DECAY[args.model]
    decay = callbacks.LearningRateScheduler(lambda epoch, lr: args.lr * lr_decay ** epoch)
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, seed=args.seed,
                        validation_data=(x_test, y_test), verbose=args.verbose, callbacks=[decay])
    loss, acc = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    print(f"Test accuracy: {acc:.4f} (loss {loss:.4f}) after {args.epochs} epochs of {args.model} on the "
          f"{args.backend} backend, {fastconv.get_num_threads()} threads, isa {fastconv.cpu_info()['isa']}")
    if args.plot:
        _plot(history, args.plot)
    if args.save_weights:
        model.save_weights(args.save_weights)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="fastconv", description="Fast CPU convolution kernels and a Keras-like "
                                     "layer API on top of them.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a CNN on MNIST (the main job)",
                           description="Train the classic MNIST CNN (or LeNet-5) on fastconv kernels and report the "
                                       "test accuracy. MNIST is read from --data-dir, else $FASTCONV_DATA, else "
                                       "~/.cache/fastconv/mnist, and downloaded there only if missing.")
    train.add_argument("--model", choices=["seed", "lenet5"], default="seed",
                       help="seed: conv 6@2x2-relu-pool-dense 10 (10,180 params); lenet5: LeNet-5 with ReLU")
    train.add_argument("--epochs", type=int, default=10, help="epochs (default 10)")
    train.add_argument("--batch-size", type=int, default=32, help="mini-batch size (default 32)")
    train.add_argument("--lr", type=float, default=0.001, help="Adam learning rate (default 0.001, Keras's)")
    train.add_argument("--lr-decay", type=float, default=None,
                       help="learning rate of epoch e is lr * lr_decay**e (default: 1, constant, for seed; 0.8 for "
                            "lenet5, which otherwise overfits noisily in its last epochs)")
    train.add_argument("--threads", type=int, default=0, help="kernel threads (default: OMP_NUM_THREADS or cores)")
    train.add_argument("--seed", type=int, default=0, help="seed for weights, shuffling and dropout (default 0)")
    train.add_argument("--data-dir", default=None, help="folder with the four MNIST IDX files (.gz or raw)")
    train.add_argument("--backend", choices=["fastconv", "reference"], default="fastconv",
                       help="fastconv kernels (default) or the pure NumPy reference, for comparison")
    train.add_argument("--raw-pixels", action="store_true",
                       help="feed 0-255 pixels as the Keras example does (default: scaled to [0, 1])")
    train.add_argument("--limit", type=int, default=0, help="train on the first N training images only")
    train.add_argument("--plot", metavar="FILE.png", help="save loss/accuracy curves (needs matplotlib)")
    train.add_argument("--save-weights", metavar="FILE.npz", help="save the trained weights")
    train.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1, help="progress: 0 none, 1 bar, 2 line")
    train.set_defaults(run=_train)

    bench = sub.add_parser("bench", help="kernel benchmarks vs the NumPy reference and PyTorch",
                           description="Time each convolution pass (and max pooling) side by side for fastconv, the "
                                       "NumPy reference and PyTorch (if installed): medians of repeats, GFLOP/s, "
                                       "% of this machine's measured FMA peak, speed-ups.")
    bench.add_argument("--shapes", help="comma-separated shape ids or groups (small, large, depthwise, pool); "
                       "default all")
    bench.add_argument("--layout", choices=["NCHW", "NHWC"], help="one layout only (default both)")
    bench.add_argument("--threads", type=int, default=0, help="threads (default: OMP_NUM_THREADS or cores)")
    bench.add_argument("--budget", type=float, default=0.5, help="seconds of timing per measurement (default 0.5)")
    bench.add_argument("--no-reference", action="store_true", help="skip the (slow) NumPy reference")
    bench.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    bench.add_argument("--plot", metavar="FILE.png", help="bar chart of GFLOP/s (needs matplotlib)")
    bench.set_defaults(run=lambda args: __import__("fastconv.bench", fromlist=["main"]).main(args))

    info = sub.add_parser("info", help="version, ISA in use, threads, OpenMP runtime, compiler flags")
    info.set_defaults(run=_info)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - one clear line and a non-zero status, not a traceback
        print(f"fastconv {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

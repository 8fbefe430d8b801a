"""The `fastconv` command line."""
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


def build_parser():
    parser = argparse.ArgumentParser(prog="fastconv", description="Fast CPU convolution kernels.")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="version, ISA in use, threads, OpenMP runtime, compiler flags")
    info.set_defaults(run=_info)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

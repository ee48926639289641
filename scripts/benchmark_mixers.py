"""Time every form of the fast-weight mixers against the chunkwise one, in one run:
``python scripts/benchmark_mixers.py [--device cuda] [--length 1024] [--json results.json]``.
"""

import argparse

import torch

from fast_weights.benchmark import as_records, benchmark, format_table
from fast_weights.io import atomic_write_json


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not accepted: expected an integer >= 1")
    return value


class Parser(argparse.ArgumentParser):
    """Reports a bad argument in one ``error:`` line, like the project's other scripts."""

    def error(self, message: str) -> None:
        self.exit(2, f"error: {message}\n")


def main() -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--batch", type=positive, default=8)
    parser.add_argument("--length", type=positive, default=256)
    parser.add_argument("--d-model", type=positive, default=64)
    parser.add_argument("--heads", type=positive, default=4)
    parser.add_argument("--chunk-size", type=positive, default=64)
    parser.add_argument("--repeats", type=positive, default=5)
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but no CUDA device is available; use --device cpu")

    results = benchmark(
        device=args.device,
        batch=args.batch,
        length=args.length,
        d_model=args.d_model,
        heads=args.heads,
        chunk_size=args.chunk_size,
        repeats=args.repeats,
    )
    device = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    print(
        f"{device}, torch {torch.__version__}: batch {args.batch}, length {args.length}, "
        f"d_model {args.d_model}, {args.heads} heads, chunks of {args.chunk_size}, "
        f"median of {args.repeats} forward+backward passes"
    )
    print(format_table(results))
    if args.json:
        atomic_write_json(args.json, {"settings": vars(args), "results": as_records(results)})


if __name__ == "__main__":
    main()

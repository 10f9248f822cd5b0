"""`make bench`: the instructor's convolutions against torch and the BLAS bound, side by side.

Times, in one process and interleaved (every round runs every contestant once; the best
of all rounds is kept, so a noisy neighbour hurts everyone alike):
  * the loop conv (part 1 instructor solution, float64 only: it is slow),
  * the fast conv (part 2 instructor solution),
  * torch.nn.functional.conv2d and its backward kernel (when torch is importable),
  * a plain square matrix multiply with the same FLOP count (numpy's BLAS bound here),
forward and backward (dx, dw, db), in float32 and float64, on three shapes.
Prints the table and writes it to reports/bench-conv.md (a file this script owns).
"""

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import report_file  # noqa: E402 - bench/, next to this script
from coursetools.notebooks import instructor_namespace  # noqa: E402

SOURCE = REPO / "source" / "spatial" / "spatial.py"
REPORT = report_file.REPORTS / "bench-conv.md"
TITLE = "Speed of the fast convolution"
EXPLAINED_IN = ("[docs/assignment-spatial.md]"
                "(../docs/assignment-spatial.md#speed-of-the-fast-convolution-make-bench)")

# name, N, C, H, W, F, KH, KW, stride, padding
SHAPES = [
    ("main", 32, 16, 32, 32, 32, 3, 3, 1, 1),
    ("first-layer", 64, 3, 32, 32, 16, 5, 5, 1, 2),
    ("strided", 16, 32, 16, 16, 64, 3, 3, 2, 1),
]
TARGET_TORCH, TARGET_MATMUL = 0.8, 0.6

try:
    import torch
    import torch.nn.functional as tF
except ImportError:  # the table then has no torch column
    torch = None


def flops(shape):
    _, n, c, h, w, f, kh, kw, s, p = shape
    ho, wo = (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1
    return 2.0 * n * f * ho * wo * c * kh * kw


def interleaved(contestants, rounds, budget):
    """Best time of each contestant over up to ``rounds`` interleaved rounds (or ``budget`` s)."""
    best = {name: float("inf") for name in contestants}
    start = time.perf_counter()
    for r in range(rounds):
        for name, fn in contestants.items():
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
        if r >= 2 and time.perf_counter() - start > budget:
            break
    return best


def square_matmul(total_flops, dtype, rng):
    m = max(1, int(round((total_flops / 2) ** (1 / 3))))
    a = rng.standard_normal((m, m)).astype(dtype)
    b = rng.standard_normal((m, m)).astype(dtype)
    return lambda: a @ b, 2.0 * m ** 3


def measure(ns, shape, dtype, rounds, budget, with_loop):
    name, n, c, h, w, f, kh, kw, s, p = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((f, c, kh, kw)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    out, cache = ns["conv2d_forward_fast"](x, wt, b, s, p)
    dout = rng.standard_normal(out.shape).astype(dtype)
    fwd = {"fast": lambda: ns["conv2d_forward_fast"](x, wt, b, s, p)}
    bwd = {"fast": lambda: ns["conv2d_backward_fast"](dout, cache)}
    fl = flops(shape)
    mm_f, mm_flops = square_matmul(fl, dtype, rng)
    ho, wo = out.shape[2], out.shape[3]
    cols = rng.standard_normal((n * ho * wo, c * kh * kw)).astype(dtype)
    wmat = rng.standard_normal((c * kh * kw, f)).astype(dtype)
    fwd["square"] = mm_f
    bwd["square"] = lambda: (mm_f(), mm_f())  # backward = dx + dw: twice the FLOPs
    fwd["gemm"] = lambda: cols @ wmat           # the product im2col reduces the conv to
    bwd["gemm"] = lambda: (cols @ wmat, cols.T @ cols[:, :f])
    if torch is not None:
        xt, wtt, bt, dt_ = (torch.from_numpy(a) for a in (x, wt, b, dout))
        fwd["torch"] = lambda: tF.conv2d(xt, wtt, bt, stride=s, padding=p)
        bwd["torch"] = lambda: torch.ops.aten.convolution_backward(
            dt_, xt, wtt, [f], [s, s], [p, p], [1, 1], False, [0, 0], 1, [True, True, True])
    if with_loop:
        _, lcache = ns["conv2d_forward"](x, wt, b, s, p)
        fwd["loop"] = lambda: ns["conv2d_forward"](x, wt, b, s, p)
        bwd["loop"] = lambda: ns["conv2d_backward"](dout, lcache)
    rows = []
    for direction, contestants, work in (("forward", fwd, fl), ("backward", bwd, 2 * fl)):
        slow = {k: v for k, v in contestants.items() if k == "loop"}
        best = interleaved({k: v for k, v in contestants.items() if k != "loop"}, rounds, budget)
        best.update(interleaved(slow, 2, 0) if slow else {})
        best["square"] *= fl / mm_flops  # exactly the same FLOP count as the convolution
        for impl in ("loop", "fast", "torch"):
            if impl in best:
                rows.append((name, direction, np.dtype(dtype).name, impl, best[impl], work,
                             best.get("torch"), best["gemm"], best["square"]))
    return rows


def render(rows, header):
    lines = [header, "",
             "| shape | pass | dtype | implementation | time (ms) | GFLOP/s | torch / this "
             "| conv-shaped GEMM / this | square GEMM / this |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, direction, dtype, impl, t, work, t_torch, t_gemm, t_sq in rows:
        ratio = f"{t_torch / t:.2f}" if t_torch else "n/a"
        lines.append(f"| {name} | {direction} | {dtype} | {impl} | {t * 1e3:.2f} | {work / t / 1e9:.1f} | "
                     f"{ratio} | {t_gemm / t:.2f} | {t_sq / t:.2f} |")
    return "\n".join(lines)


def verdicts(rows):
    out = []
    for name, direction, dtype, impl, t, work, t_torch, t_gemm, t_sq in rows:
        if name != "main" or impl != "fast":
            continue
        vs_torch = t_torch / t if t_torch else None
        word = lambda ok: "meets" if ok else "misses"  # noqa: E731
        out.append(f"- main shape, {direction}, {dtype}: "
                   + (f"{vs_torch:.2f}x torch ({word(vs_torch >= TARGET_TORCH)} {TARGET_TORCH}x); "
                      if vs_torch is not None else "torch not installed; ")
                   + f"{t_gemm / t:.0%} of the conv-shaped GEMM ({word(t_gemm / t >= TARGET_MATMUL)} "
                   f"{TARGET_MATMUL:.0%}), {t_sq / t:.0%} of the square GEMM "
                   f"({word(t_sq / t >= TARGET_MATMUL)} {TARGET_MATMUL:.0%}); "
                   + (f"torch itself runs at {t_sq / t_torch:.0%} of the square GEMM" if t_torch else ""))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--budget", type=float, default=8.0, help="seconds per shape and pass")
    parser.add_argument("--no-report", action="store_true",
                        help=f"print only; do not rewrite {REPORT.relative_to(REPO)}")
    parser.add_argument("--source", type=Path, default=SOURCE, help="jupytext source of the notebook")
    args = parser.parse_args()
    ns = instructor_namespace(args.source)
    missing = [fn for fn in ("conv2d_forward", "conv2d_backward", "conv2d_forward_fast",
                             "conv2d_backward_fast") if fn not in ns]
    if missing:
        sys.exit(f"error: {args.source} has no instructor solution for {', '.join(missing)}")
    if torch is not None:
        torch.set_num_threads(os.cpu_count() or 1)
    rows = []
    for shape in SHAPES:
        for dtype in (np.float32, np.float64):
            print(f"timing {shape[0]} {np.dtype(dtype).name} ...", flush=True)
            rows += measure(ns, shape, dtype, args.rounds, args.budget,
                            with_loop=dtype is np.float64 and shape[0] == "main")
    shapes = "; ".join(f"{s[0]}: N={s[1]}, C={s[2]}, {s[3]}x{s[4]}, F={s[5]}, {s[6]}x{s[7]}, "
                       f"stride {s[8]}, padding {s[9]}" for s in SHAPES)
    header = (f"Measured by `make bench` on {datetime.date.today()}: {os.cpu_count()} cores, "
              f"{platform.processor() or platform.machine()}, numpy {np.__version__}"
              + (f", torch {torch.__version__} ({torch.get_num_threads()} threads)" if torch else "")
              + f". Shapes: {shapes}. Best of interleaved rounds. Bounds: numpy's BLAS on the "
              "conv-shaped product `(N*Ho*Wo, C*KH*KW) @ (C*KH*KW, F)` that im2col reduces the "
              "convolution to, and a square product of the same FLOP count (backward: twice).")
    table = render(rows, header)
    summary = "\n".join(verdicts(rows))
    text = table + "\n\n" + summary
    print("\n" + text)
    if not args.no_report:
        report_file.write(REPORT, TITLE, "make bench", EXPLAINED_IN, text)
        print(f"\nwrote {REPORT.relative_to(REPO)}")


if __name__ == "__main__":
    main()

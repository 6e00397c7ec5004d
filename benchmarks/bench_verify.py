"""Wall time of the unrolled check as fresh processes, imports included (issue 4 acceptance).

    python3 benchmarks/bench_verify.py            # the acceptance runs, then T growth
    python3 benchmarks/bench_verify.py --cli      # time `bptt.py verify ...` instead of the library
    python3 benchmarks/bench_verify.py --repeat 3 # best of three

Budgets: `verify graves-lstm --steps 3` and rnn, lstm, gru at T = 3 under 10 s, `--steps 6`
under 30 s; another check may share the command, so the unrolled check alone should stay under
half. Exit status 1 when a run fails or exceeds its budget.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (cell, steps, hidden, inputs, budget in seconds or None for information only)
ACCEPTANCE = [("rnn", 3, 2, 2, 10), ("lstm", 3, 2, 2, 10), ("gru", 3, 2, 2, 10),
              ("graves-lstm", 3, 2, 2, 10), ("graves-lstm", 6, 2, 2, 30)]
GROWTH = [("graves-lstm", steps, 2, 2, None) for steps in (12, 24)] + \
         [("graves-lstm", 24, 4, 4, None)]  # the largest sizes the limits allow

LIBRARY = ("import sys; from verify.unrolled import check_unrolled; "
           "r = check_unrolled({cell!r}, steps={steps}, hidden={hidden}, inputs={inputs}); "
           "print(r.format()); sys.exit(0 if r.ok else 1)")


def command(cell: str, steps: int, hidden: int, inputs: int, cli: bool) -> list[str]:
    if cli:
        return [sys.executable, str(ROOT / "bptt.py"), "verify", cell, "--steps", str(steps),
                "--hidden", str(hidden), "--inputs", str(inputs)]
    return [sys.executable, "-c", LIBRARY.format(cell=cell, steps=steps, hidden=hidden,
                                                 inputs=inputs)]


def timed(cmd: list[str]) -> tuple[float, int, str]:
    start = time.perf_counter()
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    return time.perf_counter() - start, run.returncode, (run.stdout + run.stderr).strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli", action="store_true", help="time the bptt command (both checks) instead of the library")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the best counts")
    args = parser.parse_args()
    print(f"{'cell':<12} {'T':>3} {'H':>2} {'I':>2} {'seconds':>8} {'budget':>7}  verdict")
    failed = False
    for cell, steps, hidden, inputs, budget in ACCEPTANCE + GROWTH:
        runs = [timed(command(cell, steps, hidden, inputs, args.cli)) for _ in range(args.repeat)]
        seconds = min(s for s, _, _ in runs)
        code, output = runs[-1][1], runs[-1][2]
        verdict = "agrees" if code == 0 else f"exit {code}: {output.splitlines()[-1]}"
        if budget is not None and seconds > budget / 2:
            verdict += f" (over half the budget, {budget / 2:.0f} s)"
        failed |= code != 0 or (budget is not None and seconds > budget)
        print(f"{cell:<12} {steps:>3} {hidden:>2} {inputs:>2} {seconds:>8.2f} "
              f"{'-' if budget is None else budget:>7}  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Wall time of bptt commands as fresh processes (imports included): median of 5 runs.

    python benchmarks/bench_cli.py            # the default set
    python benchmarks/bench_cli.py sheet lstm # one command
"""
import statistics
import subprocess
import sys
import time

DEFAULT = [["sheet", "graves-lstm"], ["sheet", "graves-lstm", "--notation", "graves"],
           ["sheet", "gru", "--format", "md"]]


def wall(args: list[str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bptt", *args], check=True,
                       stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


if __name__ == "__main__":
    commands = [sys.argv[1:]] if len(sys.argv) > 1 else DEFAULT
    print("| command | median wall time (s) |\n| --- | --- |")
    for args in commands:
        print(f"| bptt {' '.join(args)} | {wall(args):.2f} |")

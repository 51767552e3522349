#!/usr/bin/env python3
"""bench/corpus.py: prov against Ansible on the seven public roles of the Ansible corpus.

    bench/corpus.py                       # 3 rounds of all seven roles, release build
    bench/corpus.py --runs 5 nginx users  # some roles
    bench/corpus.py --prov target/release/prov --no-build

Each round is one run of tests/corpus/compare (see tests/corpus/README.md): for every role,
two fresh twin lab hosts (prov lab reset), Ansible (ansible-core 2.19, pipelining on) converges
one and prov the other from the same inventory, then each tool re-runs on its converged host.
The wall time of each tool's process is taken by the harness; a round counts only when the
role came out identical and idempotent. Prints a markdown table of medians (BENCHMARKS.md §7).
Needs root and the lab up with at least 2 hosts (`prov lab up --hosts 2`).
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("roles", nargs="*", help="roles (default: all seven)")
    ap.add_argument("--runs", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--prov", default=str(REPO / "target/release/prov"))
    ap.add_argument("--no-build", action="store_true", help="do not run cargo build --release")
    ap.add_argument("--hosts", default="lab1,lab2", help="the twin lab hosts")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "prov"], cwd=REPO, check=True)
    times = {}  # role -> {(side, run): [seconds]}
    skipped = {}
    with tempfile.TemporaryDirectory() as work:
        for r in range(1, args.runs + 1):
            report = Path(work) / f"round-{r}.json"
            cmd = [str(REPO / "tests/corpus/compare"), "--prov", args.prov, "--hosts", args.hosts,
                   "--report", str(report), *args.roles]
            print(f"round {r}/{args.runs}: {' '.join(cmd)}", file=sys.stderr, flush=True)
            subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL)
            for role in json.loads(report.read_text())["roles"]:
                name = role["role"]
                if role["status"] != "identical":
                    skipped[name] = skipped.get(name, 0) + 1
                    continue
                t = times.setdefault(name, {})
                for side in ("a", "b"):
                    for run in ("converge", "rerun"):
                        t.setdefault((side, run), []).append(role[side][run]["seconds"])
    print(table(times, skipped, args.runs))


def table(times, skipped, runs):
    rows = ["| role | rounds | Ansible fresh s | prov fresh s | fresh ×faster | Ansible re-run s | prov re-run s | re-run ×faster |",
            "|---|---|---|---|---|---|---|---|"]
    totals = {"a-converge": 0.0, "b-converge": 0.0, "a-rerun": 0.0, "b-rerun": 0.0}
    for role, t in times.items():
        med = {f"{s}-{r}": statistics.median(v) for (s, r), v in t.items()}
        for k in totals:
            totals[k] += med[k]
        rows.append(f"| {role} | {len(t[('a', 'converge')])} | {med['a-converge']:.2f} | {med['b-converge']:.2f} | "
                    f"{med['a-converge'] / med['b-converge']:.1f} | {med['a-rerun']:.2f} | {med['b-rerun']:.2f} | "
                    f"{med['a-rerun'] / med['b-rerun']:.1f} |")
    if times:
        rows.append(f"| **all** | {runs} | {totals['a-converge']:.2f} | {totals['b-converge']:.2f} | "
                    f"{totals['a-converge'] / totals['b-converge']:.1f} | {totals['a-rerun']:.2f} | "
                    f"{totals['b-rerun']:.2f} | {totals['a-rerun'] / totals['b-rerun']:.1f} |")
    for role, n in skipped.items():
        rows.append(f"\n{role}: {n} round(s) not identical, left out")
    return "\n".join(rows)


if __name__ == "__main__":
    main()

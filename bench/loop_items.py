#!/usr/bin/env python3
"""Cost of a loop over a list held in a variable, on the controller (issue 14, bounds).

    bench/loop_items.py [--prov PATH] [--sizes 10000,30000,100000]

For each size N, writes a play whose `vars:` hold a list of N numbers and whose one task loops
over it (`debug`), runs it with a local connection through bench/measure.py, and prints one
JSON line per size: N, wall and CPU seconds, max RSS. A loop item must not copy the scope, so
the time should grow linearly with N (it grew with N squared before: 30k items took 52.7 s).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prov", default=os.path.join(HERE, "..", "target", "release", "prov"))
    ap.add_argument("--sizes", default="10000,30000,100000")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        inv = os.path.join(d, "inv.yml")
        with open(inv, "w") as f:
            f.write("all:\n  hosts:\n    h1:\n      ansible_connection: local\n")
        for n in (int(s) for s in args.sizes.split(",")):
            play = os.path.join(d, f"loop{n}.yml")
            with open(play, "w") as f:
                f.write(
                    "- hosts: all\n  gather_facts: no\n  vars:\n"
                    f"    items: {json.dumps(list(range(n)))}\n"
                    "  tasks:\n    - debug: {msg: '{{ item }}'}\n"
                    "      loop: '{{ items }}'\n"
                )
            out = subprocess.run(
                [sys.executable, os.path.join(HERE, "measure.py"), "--no-tree", "--",
                 args.prov, "run", play, "-i", inv, "--output", "json"],
                capture_output=True, text=True, check=True,
            )
            m = json.loads(out.stdout)
            print(json.dumps({"items": n, "wall": m["wall"], "cpu": m["cpu_user"] + m["cpu_sys"],
                              "maxrss_kb": m["maxrss_kb"], "rc": m["rc"]}))


if __name__ == "__main__":
    main()

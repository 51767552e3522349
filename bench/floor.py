#!/usr/bin/env python3
"""The floor a tool is measured against: the same number of remote steps, done as cheaply as
possible.

    floor.py --ssh-config FILE --steps K HOST [HOST...]

For every host at once: one SSH connection (OpenSSH's client, as configured for the lab) running
one `sh`, then K round trips, each a shell built-in (`:`) followed by an `echo` of a marker that
the next step waits for. No process is spawned on the host per step and nothing is transferred
but the markers, so this is what K sequential steps cost at the least over a fresh connection:
the connection (key exchange, authentication, the session's shell) plus K round trips. Prints
one JSON object: `{"hosts": N, "steps": K, "failed": [...]}`; time it with measure.py.
"""

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor


def steps_on(host, ssh_config, k):
    """Runs k built-in steps on host over one connection; returns an error text or None."""
    p = subprocess.Popen(
        ["ssh", "-F", ssh_config, "-o", "BatchMode=yes", host, "sh"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        for i in range(k):
            p.stdin.write(f": step; echo @{i}\n".encode())
            p.stdin.flush()
            line = p.stdout.readline()
            if line.strip() != f"@{i}".encode():
                return f"{host}: step {i}: {line[:200]!r}"
        p.stdin.close()
        rc = p.wait(timeout=60)
        return None if rc == 0 else f"{host}: exit {rc}: {p.stderr.read()[:300]!r}"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ssh-config", required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("hosts", nargs="+")
    args = ap.parse_args()
    with ThreadPoolExecutor(max_workers=len(args.hosts)) as ex:
        errors = [e for e in ex.map(lambda h: steps_on(h, args.ssh_config, args.steps), args.hosts)
                  if e]
    print(json.dumps({"hosts": len(args.hosts), "steps": args.steps, "failed": errors}))
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Runs one command and measures it as a controller workload.

    measure.py [--no-tree] [--log FILE] [--cgroup DIR] -- COMMAND [ARGS...]

Prints one JSON object on stdout:

- ``wall``: seconds from start until the command's own process exits;
- ``cpu_user``/``cpu_sys``: CPU seconds of the whole process tree (the command, every process it
  started, and processes that outlived it, such as OpenSSH ControlPersist masters: this process is
  a child subreaper, so orphans are reparented to it, ended by PID after the command exits, and
  reaped, which adds their usage to RUSAGE_CHILDREN);
- ``maxrss_kb``: the largest max RSS of any single process of the tree (exact, from the kernel,
  via GNU time's ``%M``: a process forked from this Python process would inherit its RSS as a
  floor, one forked from ``time`` does not);
- ``tree_rss_peak_kb``: the peak of the sum of RSS over the tree, sampled every 100 ms
  (``--no-tree``: not sampled, equal to ``maxrss_kb``; use it for single-process tools when the
  machine has thousands of processes);
- ``host_cpu``: with ``--cgroup DIR`` (a cgroup2 folder, such as the lab's, which holds every lab
  host), the CPU seconds spent inside that cgroup from start until the leftovers are reaped: the
  hosts' share of the work (sshd, shells, the commands tasks start), ``null`` without it;
- ``rc``: the command's exit code; ``leftovers``: processes ended after the command exited.
"""

import ctypes
import errno
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time

PR_SET_CHILD_SUBREAPER = 36
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def proc_table():
    """{pid: (ppid, rss_kb)} for every process."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        # fields after the command name (which may contain spaces or parentheses)
        rest = data[data.rfind(b")") + 2 :].split()
        try:
            table[int(name)] = (int(rest[1]), int(rest[21]) * PAGE_KB)
        except (IndexError, ValueError):
            continue
    return table


def descendants(root, table):
    """PIDs below `root` in `table`."""
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def cgroup_cpu(path):
    """CPU seconds used so far by cgroup2 folder `path` (`usage_usec` of its cpu.stat)."""
    if path is None:
        return None
    try:
        with open(os.path.join(path, "cpu.stat")) as f:
            for line in f:
                key, value = line.split()
                if key == "usage_usec":
                    return int(value) / 1e6
    except (OSError, ValueError):
        pass
    return None


def main():
    argv = sys.argv[1:]
    tree = True
    log = None
    cgroup = None
    while argv and argv[0] != "--":
        opt = argv.pop(0)
        if opt == "--no-tree":
            tree = False
        elif opt == "--log":
            log = argv.pop(0)
        elif opt == "--cgroup":
            cgroup = argv.pop(0)
        else:
            sys.exit(f"measure.py: unknown option {opt}")
    if not argv or len(argv) < 2:
        sys.exit("usage: measure.py [--no-tree] [--log FILE] [--cgroup DIR] -- COMMAND [ARGS...]")
    cmd = argv[1:]

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("measure.py: prctl(PR_SET_CHILD_SUBREAPER) failed")

    me = os.getpid()
    peak = {"tree": 0, "procs": 0}
    done = threading.Event()

    def sample():
        while not done.is_set():
            table = proc_table()
            pids = descendants(me, table)
            total = sum(table[p][1] for p in pids if p in table)
            peak["tree"] = max(peak["tree"], total)
            peak["procs"] = max(peak["procs"], len(pids))
            done.wait(0.1)

    out = open(log, "wb") if log else subprocess.DEVNULL
    rss_file = f"/tmp/measure-{me}.rss"
    cmd = ["/usr/bin/time", "-f", "%M", "-o", rss_file, *cmd]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    host_before = cgroup_cpu(cgroup)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    sampler = None
    if tree:
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
    rc = proc.wait()
    wall = time.perf_counter() - t0
    done.set()
    if sampler:
        sampler.join()

    # Processes that outlived the command (reparented to us): end them by PID and reap them.
    leftovers = []
    table = proc_table()
    for pid in descendants(me, table):
        try:
            with open(f"/proc/{pid}/comm") as f:
                leftovers.append(f.read().strip())
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + 10
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            if time.monotonic() > deadline:
                for p in descendants(me, proc_table()):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
                deadline = time.monotonic() + 10
            time.sleep(0.02)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    host_after = cgroup_cpu(cgroup)
    if log:
        out.close()
    maxrss = 0
    try:
        with open(rss_file) as f:
            lines = f.read().split()
        maxrss = int(lines[-1])
        os.unlink(rss_file)
    except (OSError, ValueError, IndexError):
        pass
    print(
        json.dumps(
            {
                "wall": round(wall, 4),
                "cpu_user": round(after.ru_utime - before.ru_utime, 4),
                "cpu_sys": round(after.ru_stime - before.ru_stime, 4),
                "maxrss_kb": maxrss,
                "tree_rss_peak_kb": max(peak["tree"], maxrss) if tree else maxrss,
                "tree_procs_peak": peak["procs"],
                "host_cpu": (None if host_before is None or host_after is None
                             else round(host_after - host_before, 4)),
                "rc": rc,
                "leftovers": leftovers,
            }
        )
    )


if __name__ == "__main__":
    try:
        main()
    except OSError as e:
        if e.errno == errno.ENOENT:
            sys.exit(f"measure.py: {e}")
        raise

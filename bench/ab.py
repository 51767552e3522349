#!/usr/bin/env python3
"""A/B comparison of prov binaries on the bench no-op play (bench/noop/prov.yml).

    bench/ab.py HOSTS RUNS PROV_A PROV_B [PROV_C...]

Needs a lab of at least HOSTS hosts (`prov lab up --hosts HOSTS`). Runs one unmeasured warm-up
round, then RUNS rounds in which the binaries alternate (the order flips every round), each run
through bench/measure.py. Prints per run and as medians: wall time, prov's CPU and the whole
machine's busy CPU-seconds during the run (from /proc/stat: the lab hosts run on this machine,
so this is where the hosts' own work shows).
"""
import json, os, subprocess, sys, time
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if len(sys.argv) < 5:
    sys.exit(__doc__)
n = int(sys.argv[1]); runs = int(sys.argv[2]); bins = sys.argv[3:]
inv = f"/tmp/prov-ab-inv-{n}.yml"
lines = ["all:", "  vars:", "    ansible_user: root",
         '    ansible_ssh_private_key_file: "/var/lib/prov-lab/id_ed25519"',
         '    prov_known_hosts_file: "/var/lib/prov-lab/known_hosts"',
         "  children:", "    bench:", "      hosts:"]
lines += [f"        lab{i}: {{ ansible_host: 10.77.{(10+i)//256}.{(10+i)%256} }}" for i in range(1, n+1)]
open(inv, "w").write("\n".join(lines) + "\n")
def busy():
    f = open("/proc/stat").readline().split()[1:]
    v = list(map(int, f)); idle = v[3] + v[4]
    return (sum(v) - idle) / os.sysconf("SC_CLK_TCK")
res = {b: [] for b in bins}
for r in range(runs + 1):
    for b in (bins if r % 2 == 0 else bins[::-1]):
        b0 = busy()
        p = subprocess.run([sys.executable, f"{REPO}/bench/measure.py", "--no-tree", "--", b, "run",
                            f"{REPO}/bench/noop/prov.yml", "-i", inv, "-f", str(n)],
                           capture_output=True, text=True, cwd=REPO)
        m = json.loads(p.stdout.strip().splitlines()[-1])
        m["machine_cpu"] = busy() - b0
        if m["rc"] != 0:
            print("FAILED", b, m, p.stderr[-500:]); continue
        if r > 0:
            res[b].append(m)
        print(r, os.path.basename(b), f"wall {m['wall']:.2f} prov_cpu {m['cpu_user']+m['cpu_sys']:.2f} machine_cpu {m['machine_cpu']:.1f}", flush=True)
        time.sleep(2)
for b, ms in res.items():
    ws = sorted(m["wall"] for m in ms); cs = sorted(m["machine_cpu"] for m in ms)
    ps = sorted(m["cpu_user"] + m["cpu_sys"] for m in ms)
    med = lambda x: x[len(x)//2]
    print(f"{b}: median wall {med(ws):.2f} (min {ws[0]:.2f} max {ws[-1]:.2f}), prov cpu {med(ps):.2f}, machine cpu {med(cs):.1f}")

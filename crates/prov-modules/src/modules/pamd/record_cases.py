"""Records what community.general.pamd's own PamdService does with each case of `cases_in`
below, into cases.json (read by the unit tests in tests.rs). Run with the Ansible venv's
Python: /var/cache/prov-bench/venv/bin/python record_cases.py > cases.json
The module's mark line gets the fixed time NOW."""
import glob
import importlib.util
import json
import os
import sys

NOW = "2026-12-07T14:05:09.123456"
src = glob.glob("/var/cache/prov-bench/venv/lib/python3*/site-packages/ansible_collections/"
                "community/general/plugins/modules/pamd.py")[0]
spec = importlib.util.spec_from_file_location("pamd", src)
pamd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pamd)


class FixedNow:
    @staticmethod
    def now():
        class T:
            def isoformat(self):
                return NOW
        return T()


pamd.datetime = FixedNow

HERE = os.path.dirname(os.path.abspath(__file__))
SSHD = open(os.path.join(HERE, "debian_sshd")).read()
COMMON_AUTH = open(os.path.join(HERE, "debian_common_auth")).read()
SIMPLE = """#%PAM-1.0
auth       sufficient   pam_rootok.so
# comment between
auth       required     pam_wheel.so use_uid
auth    required  pam_faillock.so preauth silent deny=3 unlock_time=600
account required pam_unix.so
session [success=1 default=ignore] pam_succeed_if.so service in crond quiet use_uid
-session optional pam_systemd.so

password include system-auth
"""


def case(name, content, state, t, c, p, nt=None, nc=None, np=None, args=None):
    return dict(name=name, content=content, state=state, type=t, control=c, module_path=p,
                new_type=nt, new_control=nc, new_module_path=np, module_arguments=args)


cases_in = [
    # The role's task, and every state on Debian's sshd file.
    case("role: motd absent", SSHD, "absent", "session", "optional", "pam_motd.so"),
    case("absent: nothing matches", SSHD, "absent", "session", "optional", "pam_nothere.so"),
    case("absent: bracketed control", SSHD, "absent", "session",
         "[success=ok ignore=ignore module_unknown=ignore default=bad]", "pam_selinux.so"),
    case("updated: new control", SSHD, "updated", "session", "optional", "pam_keyinit.so",
         nc="required"),
    case("updated: same control", SSHD, "updated", "session", "optional", "pam_keyinit.so",
         nc="optional"),
    case("updated: arguments replaced", SSHD, "updated", "session", "optional", "pam_motd.so",
         args=["noupdate"]),
    case("updated: arguments cleared", SSHD, "updated", "session", "optional", "pam_keyinit.so",
         args=[""]),
    case("updated: type and path", SSHD, "updated", "account", "required", "pam_nologin.so",
         nt="-account", np="pam_nologin2.so"),
    case("updated: bracketed new control", SSHD, "updated", "session", "required",
         "pam_loginuid.so", nc="[success=1 default=ignore]"),
    case("updated: bracketed control with spaces around =", SSHD, "updated", "session",
         "required", "pam_loginuid.so", nc="[success = 1 default=ignore]"),
    case("updated: nothing asked", SSHD, "updated", "session", "required", "pam_limits.so"),
    case("updated: invalid new control", SSHD, "updated", "session", "required",
         "pam_limits.so", nc="bogus"),
    case("updated: invalid bracket value", SSHD, "updated", "session", "required",
         "pam_limits.so", nc="[nosuch=ok]"),
    case("updated: invalid bracket action", SSHD, "updated", "session", "required",
         "pam_limits.so", nc="[success=-1]"),
    case("updated: bracket item without =", SSHD, "updated", "session", "required",
         "pam_limits.so", nc="[success]"),
    case("before: new rule", SSHD, "before", "session", "required", "pam_limits.so",
         nt="session", nc="required", np="pam_lastlog.so", args=["showfailed"]),
    case("before: already there", SSHD, "before", "session", "optional", "pam_motd.so",
         nt="session", nc="optional", np="pam_motd.so"),
    case("before: after an include", SSHD, "before", "account", "required", "pam_nologin.so",
         nt="account", nc="required", np="pam_access.so"),
    case("before: the first rule", SIMPLE, "before", "auth", "sufficient", "pam_rootok.so",
         nt="auth", nc="required", np="pam_env.so"),
    case("before: comment between rules vanishes", SIMPLE, "before", "auth", "required",
         "pam_wheel.so", nt="auth", nc="optional", np="pam_x.so", args=["a", "b=1"]),
    case("after: new rule", SIMPLE, "after", "auth", "sufficient", "pam_rootok.so",
         nt="auth", nc="required", np="pam_wheel.so", args=["use_uid"]),
    case("after: inserted", SIMPLE, "after", "account", "required", "pam_unix.so",
         nt="account", nc="sufficient", np="pam_localuser.so"),
    case("after: the last rule", SIMPLE, "after", "password", "include", "system-auth",
         nt="password", nc="optional", np="pam_gnome_keyring.so"),
    case("after: last rule before trailing comments", SSHD, "after", "session",
         "[success=ok ignore=ignore module_unknown=ignore default=bad]", "pam_selinux.so",
         nt="session", nc="optional", np="pam_x.so"),
    case("after: duo in common-auth", COMMON_AUTH, "after", "auth",
         "[success=1 default=ignore]", "pam_unix.so", nt="auth", nc="requisite",
         np="pam_deny.so"),
    case("args_present: new simple and key", SIMPLE, "args_present", "auth", "required",
         "pam_faillock.so", args=["even_deny_root"]),
    case("args_present: key value changed", SIMPLE, "args_present", "auth", "required",
         "pam_faillock.so", args=["deny=5"]),
    case("args_present: already there", SIMPLE, "args_present", "auth", "required",
         "pam_faillock.so", args=["deny=3", "silent"]),
    case("args_present: new key", SIMPLE, "args_present", "auth", "required",
         "pam_faillock.so", args=["fail_interval=900"]),
    case("args_present: on a bracketed rule", SIMPLE, "args_present", "session",
         "[success=1 default=ignore]", "pam_succeed_if.so", args=["debug"]),
    case("args_present: listsep=,", SIMPLE, "args_present", "account", "required",
         "pam_unix.so", args=["listsep=,"]),
    case("args_present: two = crash", SIMPLE, "args_present", "account", "required",
         "pam_unix.so", args=["a=b=c"]),
    case("args_absent: removed", SIMPLE, "args_absent", "session",
         "[success=1 default=ignore]", "pam_succeed_if.so", args=["crond", "quiet"]),
    case("args_absent: not there", SIMPLE, "args_absent", "auth", "required",
         "pam_faillock.so", args=["deny=5"]),
    case("args_absent: key value", SIMPLE, "args_absent", "auth", "required",
         "pam_faillock.so", args=["deny=3"]),
    case("args_absent: space separated", SIMPLE, "args_absent", "auth", "required",
         "pam_faillock.so", args=["preauth silent"]),
    case("absent: dash type", SIMPLE, "absent", "-session", "optional", "pam_systemd.so"),
    case("absent: every match", "auth required a.so\nauth required a.so x\nauth required b.so\n",
         "absent", "auth", "required", "a.so"),
    case("absent: the only line crashes", "auth required a.so\n", "absent", "auth",
         "required", "a.so"),
    case("absent: first of two lines", "auth required a.so\n# x\n", "absent", "auth",
         "required", "a.so"),
    case("indented comment is invalid", " # indented\nauth required a.so\n", "absent", "auth",
         "required", "nothere.so"),
    case("indented include is invalid", "  @include common-auth\n", "updated", "auth",
         "required", "a.so"),
    case("continuation line crashes", "auth required a.so x \\\n   y\n", "absent", "auth",
         "required", "a.so"),
    case("rule found mid-line", "xx auth required a.so\nauth required b.so\n", "updated",
         "auth", "required", "b.so", nc="optional"),
    case("CRLF and no final newline", "auth required a.so\r\nauth required b.so", "updated",
         "auth", "required", "b.so", nc="optional"),
    case("mark replaced", "# first\n# Updated by Ansible - 2001-01-01T00:00:00\nauth required a.so\n",
         "updated", "auth", "required", "a.so", nc="optional"),
    case("empty file", "", "after", "auth", "required", "a.so", nt="auth", nc="optional",
         np="b.so"),
    case("tabs and odd spacing", "auth\trequired\tpam_a.so\targ1   arg2=\t3\n", "updated",
         "auth", "required", "pam_a.so", nc="sufficient"),
    case("bracket args kept whole", "auth required a.so [x y] z\n", "args_absent", "auth",
         "required", "a.so", args=["z"]),
    case("greedy bracket control", "auth [success=1 default=ignore] a.so [x] y\n", "absent",
         "auth", "[success=1 default=ignore]", "a.so"),
    case("control with double space", "auth [success=1  default=ignore] a.so\n", "updated",
         "auth", "[success=1  default=ignore]", "a.so", nc="required"),
]


# Random files and edits (fixed seed): lines drawn from a pool of rule spellings, comments,
# includes and empty lines; `args_present` gets one argument at a time (with several, Python
# adds them in the order of a set, which changes from run to run).
POOL = [
    "auth required pam_a.so", "auth    required\tpam_a.so  x=1 y", "auth sufficient pam_b.so",
    "-auth optional pam_c.so [a b] c", "account required pam_a.so", "account [success=1 default=ignore] pam_d.so",
    "session [success=ok ignore=ignore default=bad] pam_e.so close", "session optional pam_b.so x",
    "password include common-password", "# a comment", "#", "", "   ", "@include common-auth",
    "auth required pam_a.so y x=2", "session optional pam_b.so",
]
KEYS = [("auth", "required", "pam_a.so"), ("auth", "sufficient", "pam_b.so"),
        ("account", "[success=1 default=ignore]", "pam_d.so"), ("session", "optional", "pam_b.so"),
        ("-auth", "optional", "pam_c.so"), ("password", "include", "common-password")]
NEWS = [("auth", "optional", "pam_new.so"), ("auth", "required", "pam_a.so"),
        ("session", "[success=2 default=die]", "pam_b.so"), ("account", "requisite", "pam_d.so")]
ARGS = [None, [""], ["x=3"], ["y"], ["z"], ["x=1", "w"], ["a b", "q=r"]]


def random_cases(n):
    import random
    rnd = random.Random(20261207)
    out = []
    for i in range(n):
        lines = [rnd.choice(POOL) for _ in range(rnd.randint(1, 9))]
        content = "\n".join(lines) + rnd.choice(["\n", "", "\r\n"])
        state = rnd.choice(["updated", "before", "after", "args_present", "args_absent", "absent"])
        t, c, p = rnd.choice(KEYS)
        nt, nc, np = rnd.choice(NEWS)
        args = rnd.choice(ARGS)
        if state in ("args_present", "args_absent") and args is None:
            args = ["y"]
        if state == "args_present" and args is not None and len(args) > 1:
            args = args[:1]
        if state == "args_present" and args and " " in args[0]:
            args = ["y"]
        if state == "updated":
            nt, nc, np = [rnd.choice([v, None]) for v in (nt, nc, np)]
        out.append(case(f"random {i}", content, state, t, c, p, nt, nc, np, args))
    return out


cases_in += random_cases(300)


def run(c):
    try:
        s = pamd.PamdService(c["content"])
        st = c["state"]
        k = (c["type"], c["control"], c["module_path"])
        new = (c["new_type"], c["new_control"], c["new_module_path"], c["module_arguments"])
        if st == "updated":
            n = s.update_rule(*k, *new)
        elif st == "before":
            n = s.insert_before(*k, *new)
        elif st == "after":
            n = s.insert_after(*k, *new)
        elif st == "args_absent":
            n = s.remove_module_arguments(*k, c["module_arguments"])
        elif st == "args_present":
            n = s.add_module_arguments(*k, c["module_arguments"])
        else:
            n = s.remove(*k)
        valid, msg = s.validate()
        if not valid:
            return {"fail": msg}
        return {"count": n, "text": str(s)}
    except Exception as e:  # the module's traceback
        return {"crash": type(e).__name__}


out = []
for c in cases_in:
    c = dict(c)
    c["expect"] = run(c)
    out.append(c)
json.dump({"now": NOW, "cases": out}, sys.stdout, indent=1, ensure_ascii=False)
sys.stdout.write("\n")

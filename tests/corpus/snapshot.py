# Runs INSIDE a lab host (python3 -I -B -c "<this file>" HOSTNAME ADDRESS), as root, through
# `prov lab exec` (nsenter: no SSH, so taking a snapshot changes nothing on the host).
# Prints one JSON object: every path under /etc and /home (type, mode, owner, group, content hash
# or symlink target), the installed packages with versions and the running services.
#
# Normalisation, kept short on purpose (everything else is compared as it is):
# - the host's own name (as a whole word) and address are replaced by <HOST> and <ADDR> in file
#   contents and symlink targets (/etc/hostname, /etc/hosts, certificate subjects...);
# - PER_HOST_CONTENT: files whose content is per host by nature; their existence, type, mode and
#   owner are still compared, their content is not; the snakeoil certificate's hash link is
#   compared under one name (its name comes from the host's name);
# - /etc/shadow: the "last password change" field is a day count (a timestamp), blanked (twins
#   converged on both sides of midnight UTC would differ).
# Nothing else is skipped: with Ansible on both twins (--ansible-twin) and only the name and
# address normalisation, the seven roles leave only /etc/machine-id and the SSH host keys
# different; ld.so.cache and the shadow tools' backups (passwd-, shadow-...) come out identical,
# so they are compared.
import grp
import hashlib
import json
import os
import pwd
import re
import stat
import subprocess
import sys

HOST, ADDR = sys.argv[1], sys.argv[2]

PER_HOST_CONTENT = {
    # random per host: written by `prov lab` at host creation (as systemd's first boot would)
    "/etc/machine-id",
    # SSH host keys: each host its own (generated per host like Debian's postinst does)
    "/etc/ssh/ssh_host_ed25519_key",
    "/etc/ssh/ssh_host_ed25519_key.pub",
    "/etc/ssh/ssh_host_ecdsa_key",
    "/etc/ssh/ssh_host_ecdsa_key.pub",
    "/etc/ssh/ssh_host_rsa_key",
    "/etc/ssh/ssh_host_rsa_key.pub",
    # ssl-cert's snakeoil pair: a fresh random key and self-signed certificate per install
    # (none of the seven roles pulls ssl-cert in today; a role that does would differ here)
    "/etc/ssl/private/ssl-cert-snakeoil.key",
    "/etc/ssl/certs/ssl-cert-snakeoil.pem",
    # binary databases that differ between two installs with Ansible on both twins
    # (--ansible-twin, survey roles postfix and java): Berkeley DB files (postfix's newaliases,
    # sasl2-bin's empty sasldb2) and the Java keystore ca-certificates-java builds
    "/etc/aliases.db",
    "/etc/sasldb2",
    "/etc/ssl/certs/java/cacerts",
}


_host_re = re.compile(rb"(?<![A-Za-z0-9-])" + re.escape(HOST.encode()) + rb"(?![A-Za-z0-9-])")
_addr_re = re.compile(rb"(?<![0-9.])" + re.escape(ADDR.encode()) + rb"(?![0-9])")


def norm(data):
    return _host_re.sub(b"<HOST>", _addr_re.sub(b"<ADDR>", data))


def norm_shadow(data):
    out = []
    for line in data.split(b"\n"):
        f = line.split(b":")
        if len(f) >= 3 and f[2]:
            f[2] = b"<day>"
        out.append(b":".join(f))
    return b"\n".join(out)


def name_of(fn, i):
    try:
        return fn(i)[0]
    except KeyError:
        return str(i)


def is_text(data):
    if b"\0" in data[:8192]:
        return False
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def entry(path):
    st = os.lstat(path)
    e = {
        "mode": "%04o" % stat.S_IMODE(st.st_mode),
        "owner": name_of(pwd.getpwuid, st.st_uid),
        "group": name_of(grp.getgrgid, st.st_gid),
    }
    if stat.S_ISLNK(st.st_mode):
        e["type"] = "link"
        e["target"] = norm(os.readlink(path).encode()).decode(errors="replace")
        del e["mode"]  # symlink permissions mean nothing on Linux
    elif stat.S_ISDIR(st.st_mode):
        e["type"] = "dir"
    elif stat.S_ISREG(st.st_mode):
        e["type"] = "file"
        if path in PER_HOST_CONTENT:
            e["sha256"] = "<per host>"
        else:
            with open(path, "rb") as f:
                data = f.read()
            if path == "/etc/shadow":
                data = norm_shadow(data)
            e["text"] = is_text(data)
            if e["text"]:
                data = norm(data)
            e["size"] = len(data)
            e["sha256"] = hashlib.sha256(data).hexdigest()
    else:
        e["type"] = "other:%o" % stat.S_IFMT(st.st_mode)
    return e


# /etc as the corpus README defines, plus /home: the users role's authorized_keys and profiles
# live there (root's home is left out: Ansible keeps its ~/.ansible/tmp there, a tool artefact).
ROOTS = ["/etc", "/home"]


def files():
    out = {}
    for top in ROOTS:
        out[top] = entry(top)
        for root, dirs, names in os.walk(top):
            dirs.sort()
            for n in sorted(dirs + names):
                p = os.path.join(root, n)
                # the host's name can be part of a path (none in a stock /etc, but be safe)
                out[norm(snakeoil_hash_link(p).encode()).decode(errors="replace")] = entry(p)
    return out


def snakeoil_hash_link(path):
    """The OpenSSL hash link of the snakeoil certificate (/etc/ssl/certs/HASH.0) is named after
    its subject, which holds the host's name: its name is per host by nature, like the
    certificate (PER_HOST_CONTENT). It is compared under one name."""
    if os.path.dirname(path) == "/etc/ssl/certs" and os.path.islink(path) \
            and os.readlink(path) == "ssl-cert-snakeoil.pem":
        return "/etc/ssl/certs/<snakeoil hash>.0"
    return path


def run(argv):
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout


def packages():
    text = run(["dpkg-query", "-W", "-f", "${Package}:${Architecture}\t${Version}\t${db:Status-Abbrev}\n"])
    out = {}
    for line in text.splitlines():
        name, version, status = (line.split("\t") + ["", ""])[:3]
        if status.strip() != "un":
            out[name] = f"{version} [{status.strip()}]"
    return out


def services():
    text = run(["systemctl", "list-units", "--type=service", "--state=running", "--no-legend",
                "--plain", "--no-pager"])
    return sorted(line.split()[0] for line in text.splitlines() if line.strip())


if len(sys.argv) > 3:
    # content mode: print the normalised content of the given files (for diffs)
    res = {}
    for p in sys.argv[3:]:
        try:
            with open(p, "rb") as f:
                data = f.read()
            if p == "/etc/shadow":
                data = norm_shadow(data)
            res[p] = norm(data).decode("utf-8", errors="replace")
        except OSError as e:
            res[p] = None
    print(json.dumps(res))
else:
    print(json.dumps({"files": files(), "packages": packages(), "services": services()}))

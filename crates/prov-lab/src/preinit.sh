#!/bin/sh
# prov lab host pre-init (written by prov lab at every `up`; do not edit).
#
#   preinit.sh launch CGROUP HOSTDIR LOWER REPO REPO_MOUNT
#       Creates the host's network namespace (kept in HOSTDIR/netns.PID), then runs the boot
#       stage as PID 1 of new pid, mount, uts, ipc and cgroup namespaces inside it and the
#       host's cgroup (CGROUP is a cgroup2 directory). When the host reboots itself (systemd's
#       reboot() ends a pid namespace's init with SIGHUP), it boots again in the same network
#       namespace, as a machine keeps its network card; the running firewall is forgotten, as a
#       reboot forgets it. Any other end of PID 1 (power-off) ends the host and its network.
#   preinit.sh boot HOSTDIR LOWER REPO REPO_MOUNT
#       Builds the host's root (overlayfs over LOWER with HOSTDIR/upper, fresh /proc with
#       /proc/sys read-only except /proc/sys/net, read-only /sys, cgroup2, tmpfs /dev with a new
#       devpts, tmpfs /run and /tmp, the read-only apt repository), pivots into it and execs
#       systemd without CAP_SYS_TIME.
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

stage=$1
shift
case "$stage" in
launch)
    cg=$1
    shift
    netns=$1/netns.$$
    : >"$netns"
    unshare --net="$netns" true
    status=0
    while :; do
        # shellcheck disable=SC2016
        sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$cg" \
            nsenter --net="$netns" unshare --pid --mount --uts --ipc --cgroup --fork \
            --kill-child --propagation private /bin/sh "$0" boot "$@" || status=$?
        [ "$status" = 129 ] || break
        status=0
        nsenter --net="$netns" nft flush ruleset || true
    done
    umount "$netns" 2>/dev/null || true
    rm -f "$netns"
    exit "$status"
    ;;
boot) ;;
*)
    echo "preinit: unknown stage '$stage'" >&2
    exit 2
    ;;
esac

hostdir=$1
lower=$2
repo=$3
repomnt=$4

# Our PID as the controller sees it (/proc is still the controller's here).
outer=
while read -r key val _rest; do
    if [ "$key" = "NSpid:" ]; then
        outer=$val
    fi
done </proc/self/status
echo "$outer" >"$hostdir/pid.tmp"
mv -f "$hostdir/pid.tmp" "$hostdir/pid"

root=$hostdir/root
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$hostdir/upper,workdir=$hostdir/work" "$root"

mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
# kernel.* and fs.* are shared with the controller: only net.* stays writable.
mount --bind "$root/proc/sys" "$root/proc/sys"
mount -o remount,bind,ro,nosuid,nodev,noexec "$root/proc/sys"
mount --bind "$root/proc/sys/net" "$root/proc/sys/net"
mount -o remount,bind,rw,nosuid,nodev,noexec "$root/proc/sys/net"
if [ -e "$root/proc/sysrq-trigger" ]; then
    mount --bind "$root/proc/sysrq-trigger" "$root/proc/sysrq-trigger"
    mount -o remount,bind,ro "$root/proc/sysrq-trigger"
fi

# A machine's boot_id changes at every boot (Ansible's reboot module waits for that); the
# kernel's is shared by all hosts and the controller: each boot of a host gets its own.
cat /proc/sys/kernel/random/uuid >"$hostdir/boot_id"
mount --bind "$hostdir/boot_id" "$root/proc/sys/kernel/random/boot_id"
mount -o remount,bind,ro "$root/proc/sys/kernel/random/boot_id"

mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
mount -t cgroup2 -o rw,nosuid,nodev,noexec cgroup2 "$root/sys/fs/cgroup"

mount -t tmpfs -o nosuid,mode=755,size=8m tmpfs "$root/dev"
for node in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
    # shellcheck disable=SC2086
    set -- $node
    mknod -m 666 "$root/dev/$1" c "$2" "$3"
done
mkdir -m 755 "$root/dev/pts"
mkdir -m 1777 "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"

mount -t tmpfs -o nosuid,nodev,mode=755,size=64m tmpfs "$root/run"
mount -t tmpfs -o nosuid,nodev,mode=1777,size=256m tmpfs "$root/tmp"

mkdir -p "$root$repomnt"
mount --bind "$repo" "$root$repomnt"
mount -o remount,bind,ro "$root$repomnt"

cd "$root"
pivot_root . .
umount -l .
cd /
# The clock is the controller's: a host may set its time zone (timedated tells the kernel,
# whose first such call after boot shifts the system clock by the zone's offset) but never the
# time. Without CAP_SYS_TIME in the bounding set, no process of the host can.
exec /usr/bin/setpriv --bounding-set -sys_time /usr/bin/env -i container=prov-lab /sbin/init

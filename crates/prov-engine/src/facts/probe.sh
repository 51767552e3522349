# prov's fact probe: everything Ansible's `setup` reads on a Linux host, in one run of POSIX sh.
#
# Output framing (parsed by facts/frame.rs): a sequence of sections, each a header line
#   #prov-facts LENGTH KIND NAME
# followed by exactly LENGTH bytes of body. Lengths are counted in bytes (LC_ALL=C), so a body
# can hold any text, header look-alikes included: nothing in it is ever read as framing. The
# last section is `end`; output without it was cut short.
#
# Kinds: `file PATH` (a file's content, only when readable), `exists PATH` (empty body),
# `cmd NAME STATUS` (a command's stdout and exit status), `local NAME` (an executable local fact's
# output). Files are read with the shell's `read` (no process); commands only where no file
# says the same. $PROV_FACTS_SUBSETS lists the groups to probe (all when unset).
# The environment as the session has it, before this script sets anything.
_env=$(export -p)
LC_ALL=C
export LC_ALL

emit() { # KIND NAME BODY
  printf '#prov-facts %s %s %s\n%s' "${#3}" "$1" "$2" "$3"
}

# A file's content into $_s, false when unreadable. Short files are read with `read`, without
# a process; past 64 lines one `cat` is faster than the shell's byte-at-a-time reads and its
# ever-growing string (a 64-CPU /proc/cpuinfo: 200 ms against 7 ms).
slurp() {
  _s=
  [ -r "$1" ] && [ ! -d "$1" ] || return 1
  _lines=0
  while IFS= read -r _l || [ -n "$_l" ]; do
    _lines=$((_lines + 1))
    if [ "$_lines" -gt 64 ]; then
      _s=$(cat -- "$1" && echo .) || return 1
      _s=${_s%.}
      return 0
    fi
    _s="$_s$_l
"
  done < "$1" || return 1
}

f() { # PATH...: each readable file as a `file` section
  for _p in "$@"; do
    if slurp "$_p" 2>/dev/null; then emit file "$_p" "$_s"; fi
  done
}

e() { # PATH...: an `exists` section for each path that exists
  for _p in "$@"; do
    if [ -e "$_p" ]; then emit exists "$_p" ""; fi
  done
}

c() { # NAME COMMAND...: the command's stdout and status
  _n=$1
  shift
  _o=$("$@" 2>/dev/null)
  emit cmd "$_n $?" "$_o"
}

want() { # GROUP: true when the group is to be probed
  case " ${PROV_FACTS_SUBSETS:-all} " in
    *" all "* | *" $1 "*) return 0 ;;
  esac
  return 1
}

probe_platform() {
  f /proc/sys/kernel/ostype /proc/sys/kernel/osrelease /proc/sys/kernel/version
  f /proc/sys/kernel/hostname /etc/machine-id /var/lib/dbus/machine-id
  c machine uname -m
  slurp /proc/sys/kernel/hostname 2>/dev/null
  _h=${_s%?}
  # Python's socket.getfqdn(): the name's address, then that address's names.
  _a=$(getent hosts "$_h" 2>/dev/null)
  emit cmd "hosts-by-name 0" "$_a"
  _a=${_a%%[ 	]*}
  if [ -n "$_a" ]; then c hosts-by-addr getent hosts "$_a"; fi
}

probe_distribution() {
  f /etc/os-release /usr/lib/os-release /etc/debian_version /etc/lsb-release
}

probe_lsb() {
  if command -v lsb_release >/dev/null 2>&1; then c lsb_release lsb_release -a; fi
}

probe_user() {
  f /proc/self/status
  # Python's getpass.getuser(): the first of these variables, else the uid's name.
  _u=${LOGNAME:-${USER:-${LNAME:-${USERNAME:-}}}}
  if [ -z "$_u" ]; then _u=$(id -un); fi
  emit cmd "username 0" "$_u"
  if command -v getent >/dev/null 2>&1; then c passwd getent passwd "$_u"; else f /etc/passwd; fi
}

probe_env() {
  emit cmd "export 0" "$_env"
}

probe_date_time() {
  # Now, and January and July 1st (which of them is summer time names tz_dst).
  c date date -f - '+%Y %m %d %H %M %S %N %s %A %w %W %z %Z' <<'EOF_DATES'
now
jan 1
jul 1
EOF_DATES
}

probe_python() {
  # Ansible's interpreter discovery: the first of its list that runs.
  for _p in python3.13 python3.12 python3.11 python3.10 python3.9 python3.8 /usr/bin/python3 python3; do
    _x=$(command -v "$_p" 2>/dev/null) || continue
    _o=$("$_x" -V 2>&1) || continue
    emit cmd "python-path 0" "$_x"
    emit cmd "python-version 0" "$_o"
    break
  done
}

probe_restrictive() {
  emit cmd "debian_chroot 0" "${debian_chroot:-}"
  f /proc/sys/crypto/fips_enabled /sys/fs/selinux/enforce /sys/fs/selinux/policyvers /etc/selinux/config
  e /sys/kernel/security/apparmor /sys/fs/selinux
  # Ansible's selinux bindings load libselinux.so.1 (ctypes): where the loader finds it.
  e /lib/*/libselinux.so.1 /usr/lib/*/libselinux.so.1 /lib64/libselinux.so.1 /usr/lib64/libselinux.so.1 /lib/libselinux.so.1 /usr/lib/libselinux.so.1
  # chroot: is / the root of PID 1?
  if [ -e /proc/1/root/. ]; then
    if [ / -ef /proc/1/root/. ]; then emit cmd "same-root 0" ""; else emit cmd "same-root 1" ""; fi
  fi
}

probe_service_mgr() {
  f /proc/1/comm
  if command -v systemctl >/dev/null 2>&1; then emit exists systemctl ""; fi
  if command -v initctl >/dev/null 2>&1; then emit exists initctl ""; fi
  e /run/systemd/system /dev/.run/systemd /dev/.systemd /sbin/openrc /etc/init /sbin/initctl /etc/init.d /usr/lib/systemd/systemd /sbin/init
}

probe_pkg_mgr() {
  e /usr/bin/apt-get /usr/bin/rpm /usr/bin/dnf /usr/bin/dnf5 /usr/bin/yum /usr/bin/zypper /sbin/apk /usr/bin/pacman /usr/bin/emerge /usr/sbin/pkg /usr/bin/apt /usr/bin/xbps-install /usr/bin/swupd /usr/sbin/swupd /usr/local/bin/brew /opt/homebrew/bin/brew /usr/bin/opkg
}

probe_ssh_pub_keys() {
  for _d in /etc/ssh /etc/openssh /etc; do
    f "$_d/ssh_host_dsa_key.pub" "$_d/ssh_host_rsa_key.pub" "$_d/ssh_host_ecdsa_key.pub" "$_d/ssh_host_ed25519_key.pub"
  done
}

probe_local() {
  _dir=${PROV_FACTS_PATH:-/etc/ansible/facts.d}
  [ -d "$_dir" ] || return 0
  emit exists "$_dir" ""
  for _p in "$_dir"/*.fact; do
    [ -f "$_p" ] || continue
    if [ -x "$_p" ]; then
      _o=$("$_p" 2>/dev/null)
      emit local "$? $_p" "$_o"
    else
      f "$_p"
    fi
  done
}

probe_virtual() {
  f /proc/1/cgroup /run/systemd/container /proc/xen/capabilities
  f /sys/devices/virtual/dmi/id/product_name /sys/devices/virtual/dmi/id/sys_vendor
  f /sys/devices/virtual/dmi/id/product_family /sys/devices/virtual/dmi/id/bios_vendor
  e /proc/vz /proc/lve /proc/bc /.dockerenv /.dockerinit /proc/xen /dev/kvm
  if [ -r /proc/1/environ ]; then { c environ-1 tr '\000' '\n' < /proc/1/environ; } 2>/dev/null; fi
}

probe_hardware() {
  f /proc/meminfo /proc/cpuinfo /proc/uptime /proc/self/mountinfo /proc/mounts /proc/self/status
  e /proc/xen
  # statvfs of each mount Ansible reports (real devices), in one process.
  set --
  while read -r _dev _mnt _fs _rest; do
    case "$_dev" in /* | \\* | *:/*) ;; *) continue ;; esac
    [ "$_fs" = none ] || set -- "$@" "$_mnt"
  done < /proc/mounts
  if [ $# -gt 0 ]; then c statvfs stat -f -c '%s %S %b %a %c %d %n' "$@"; fi
  if command -v lsblk >/dev/null 2>&1; then
    c lsblk lsblk --list --noheadings --paths --output NAME,UUID --exclude 2
  fi
}

probe_network() {
  command -v ip >/dev/null 2>&1 || return 0
  c route4 ip -4 route get 8.8.8.8
  c route6 ip -6 route get 2404:6800:400a:800::1012
  c addr ip addr show
  for _d in /sys/class/net/*; do
    [ -d "$_d" ] || continue
    f "$_d/address" "$_d/mtu" "$_d/operstate" "$_d/type" "$_d/flags" "$_d/speed"
    f "$_d/bonding/slaves" "$_d/bonding/mode" "$_d/bonding/miimon" "$_d/bonding/lacp_rate"
    f "$_d/bonding/primary" "$_d/bonding_slave/perm_hwaddr" "$_d/bridge/bridge_id" "$_d/bridge/stp_state"
    e "$_d/bridge" "$_d/bonding"
    for _b in "$_d"/brif/*; do e "$_b"; done
  done
}

probe_loadavg() {
  f /proc/loadavg
}

probe_cmdline() {
  f /proc/cmdline
}

probe_dns() {
  f /etc/resolv.conf
}

want platform && probe_platform
want distribution && probe_distribution
want lsb && probe_lsb
want user && probe_user
want env && probe_env
want date_time && probe_date_time
want python && probe_python
want restrictive && probe_restrictive
want service_mgr && probe_service_mgr
want pkg_mgr && probe_pkg_mgr
want ssh_pub_keys && probe_ssh_pub_keys
want local && probe_local
want virtual && probe_virtual
want hardware && probe_hardware
want network && probe_network
want loadavg && probe_loadavg
want cmdline && probe_cmdline
want dns && probe_dns
emit end end ""

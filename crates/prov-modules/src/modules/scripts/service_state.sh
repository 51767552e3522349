# The state of service "$1" as the service module reads it; "$2" is the manager to ask
# (systemd, sysv, or auto: systemd when it runs the host).
# Prints `manager=systemd` or `manager=sysv`, then one KEY=value line per property.
unit=$1
manager=$2
if [ "$manager" = auto ]; then
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    manager=systemd
  else
    manager=sysv
  fi
fi
echo "manager=$manager"
if [ "$manager" = systemd ]; then
  systemctl show -p Id,LoadState,ActiveState,SubState,UnitFileState,NeedDaemonReload,Result -- "$unit"
  exit
fi
if service "$unit" status >/dev/null 2>&1; then echo running=yes; else echo running=no; fi
in_runlevel() {
  command -v rc-update >/dev/null || return 1
  rc-update show 2>/dev/null | while read -r name _; do
    if [ "$name" = "$unit" ]; then exit 0; fi
  done
}
if ls /etc/rc[2345].d/S*"$unit" >/dev/null 2>&1 || in_runlevel; then
  echo enabled=yes
else
  echo enabled=no
fi
if [ -e "/etc/init.d/$unit" ]; then echo exists=yes; else echo exists=no; fi
exit 0

# Boot links of a service on a host without systemd: update-rc.d, chkconfig or rc-update.
sysv_enable() {
  if command -v update-rc.d >/dev/null; then
    update-rc.d "$1" defaults && update-rc.d "$1" enable
  elif command -v chkconfig >/dev/null; then
    chkconfig "$1" on
  else
    rc-update add "$1"
  fi
}
sysv_disable() {
  if command -v update-rc.d >/dev/null; then
    update-rc.d "$1" disable
  elif command -v chkconfig >/dev/null; then
    chkconfig "$1" off
  else
    rc-update del "$1"
  fi
}

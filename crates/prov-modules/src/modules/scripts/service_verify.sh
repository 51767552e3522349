# After `systemctl "$2"` of unit "$1": the unit must be active (or a oneshot that finished
# successfully); otherwise say so and show its status.
a=$(systemctl show -p ActiveState --value -- "$1")
r=$(systemctl show -p Result --value -- "$1")
case "$a" in
  active|activating|reloading) ;;
  inactive)
    if [ "$r" != success ]; then
      echo "$1 is inactive after $2 (result: $r)" >&2
      systemctl status --no-pager -n 20 -- "$1" >&2 || true
      exit 1
    fi
    ;;
  *)
    echo "$1 is $a after $2 (result: $r)" >&2
    systemctl status --no-pager -n 20 -- "$1" >&2 || true
    exit 1
    ;;
esac

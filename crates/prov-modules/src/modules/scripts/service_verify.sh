# After `systemctl "$2"` of unit "$1": the unit must be active (or a oneshot that finished
# successfully); otherwise say so and show its status. Both properties come from one
# `systemctl show` (each call is a round trip to systemd).
a=; r=
while IFS='=' read -r k v; do
  case "$k" in ActiveState) a=$v ;; Result) r=$v ;; esac
done <<EOF_SHOW
$(systemctl show -p ActiveState,Result -- "$1")
EOF_SHOW
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

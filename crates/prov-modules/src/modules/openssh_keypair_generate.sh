# A new key pair for $k ($d its directory): made by ssh-keygen in a private directory beside
# it, then each file renamed over the old one, which gives it its mode and owner first (as
# Ansible's atomic_move); a new file keeps ssh-keygen's (0600 private, 0644 public).
t=
prov_cleanup() { trap '' HUP INT TERM PIPE; [ -z "$t" ] || rm -rf -- "$t"; }
trap prov_cleanup EXIT
trap 'prov_cleanup; exit 129' HUP; trap 'prov_cleanup; exit 130' INT
trap 'prov_cleanup; exit 143' TERM; trap 'prov_cleanup; exit 141' PIPE
set -e
t=$(mktemp -d -- "$d/.prov-keygen.XXXXXXXX")
ssh-keygen -q -N '' -b "$bits" -t "$ty" -f "$t/key" -C "$c" </dev/null >/dev/null
for x in '' .pub; do
  if [ -e "$k$x" ]; then
    chmod --reference="$k$x" -- "$t/key$x"
    chown --reference="$k$x" -- "$t/key$x" 2>/dev/null || true
  fi
  mv -fT -- "$t/key$x" "$k$x"
done
rm -rf -- "$t"
t=
set +e

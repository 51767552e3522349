# The real run: download again next to the destination, check that it is what was planned,
# then take the old file's mode and owner (0644 for a new file), apply mode/owner/group, back
# the old file up if asked, and rename into place.
d=$p
tmp=
prov_cleanup() { trap '' HUP INT TERM PIPE; [ -z "$tmp" ] || rm -f -- "$tmp"; }
trap prov_cleanup EXIT
trap 'prov_cleanup; exit 129' HUP; trap 'prov_cleanup; exit 130' INT; trap 'prov_cleanup; exit 143' TERM
tmp=$(mktemp -- "$(dirname -- "$d")/.prov-tmp.XXXXXXXX") || exit 1
r=$(prov_fetch "$tmp")
case $r in
  "HTTP 2"*) ;;
  *) echo "download failed: $r" >&2; exit 1 ;;
esac
got=$(sha256sum < "$tmp") || exit 1
[ "${got%% *}" = "$sha256" ] || { echo "the content at the URL changed since it was planned" >&2; exit 1; }
set -e
if [ -e "$d" ]; then chmod --reference="$d" "$tmp"; chown --reference="$d" "$tmp" 2>/dev/null || true; else chmod 0644 "$tmp"; fi
[ -z "$mode" ] || chmod "$mode" "$tmp"
[ -z "$owner" ] || chown "$owner" "$tmp"
[ -z "$group" ] || chgrp "$group" "$tmp"
if [ "$backup" = 1 ] && [ -f "$d" ]; then cp -p -- "$d" "$d.$(date +%Y%m%d%H%M%S)~"; fi
mv -fT -- "$tmp" "$d"
tmp=

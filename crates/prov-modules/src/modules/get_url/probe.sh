# The plan's one command: the destination's state and, unless a matching checksum makes it
# needless, the download into a private temporary file that is hashed and removed.
p=$dest
if [ -d "$p" ]; then p="${p%/}/$name"; fi
echo "PATH $p"
if [ -f "$p" ]; then
  sums=$(prov_sums "$p") || exit 98
  echo "DEST $sums"
  stat -c 'ATTR %a %u %g %U %G' -- "$p" || exit 98
  dg=${sums##* }
  if [ "$force" = 0 ] && [ -n "$want" ] && [ "$dg" = "$want" ]; then echo SKIP; exit 0; fi
elif [ -e "$p" ]; then
  echo NOTFILE; exit 0
fi
[ -d "$(dirname -- "$p")" ] || { echo NODIR; exit 0; }
ims=
if [ -f "$p" ] && [ "$force" = 0 ] && [ -z "$want" ]; then ims=$p; fi
tmp=$(mktemp) || exit 97
trap 'rm -f -- "$tmp"' EXIT
prov_fetch "$tmp" "$ims"
sums=$(prov_sums "$tmp") || exit 98
echo "GOT $sums $(wc -c < "$tmp")"

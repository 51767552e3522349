# unarchive's real run (after the quoted variables src, dest, remote, zip, z, own, grp,
# chmod_to, chown_to, only_attrs): extract (unless only_attrs=1; `unzip -o` for zip=1), then
# give every entry of the archive (and, for zip, its top folders) the requested mode and owner,
# as Ansible does.
export LANG=C LC_ALL=C LC_MESSAGES=C
set --
[ -z "$own" ] || set -- "$@" "--owner=$own"
[ -z "$grp" ] || set -- "$@" "--group=$grp"
tmp=
trap '[ -z "$tmp" ] || rm -f -- "$tmp"' EXIT
if [ "$remote" = 0 ]; then
  tmp=$(mktemp) || exit 1
  cat > "$tmp" || exit 1
  a=$tmp
else
  a=$src
fi
case $a in /*) ;; *) a=$PWD/$a ;; esac
if [ "$zip" = 1 ]; then
  names() { unzip -Z1 "$a"; unzip -Z1 "$a" | sed -n 's|^\([^/]*\)/.*|\1|p' | awk '!s[$0]++'; }
else
  names() { tar $z -t -f "$a" | sed 's|^/||'; }
fi
if [ "$only_attrs" = 0 ]; then
  if [ "$zip" = 1 ]; then
    out=$(unzip -o "$a" -d "$dest" 2>&1) || { echo "failed to unpack $src to $dest: $out" >&2; exit 1; }
  else
    tar --extract -C "$dest" $z "$@" -f "$a" || { echo "failed to unpack $src to $dest" >&2; exit 1; }
  fi
fi
cd "$dest" || exit 1
if [ -n "$chown_to" ]; then
  names | xargs -r -d '\n' chown -h -- "$chown_to" || exit 1
fi
if [ -n "$chmod_to" ]; then
  names | while IFS= read -r f; do
    [ -L "$f" ] || chmod "$chmod_to" -- "$f" || exit 1
  done || exit 1
fi
exit 0

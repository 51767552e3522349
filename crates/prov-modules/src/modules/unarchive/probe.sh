# unarchive's one planning command (after the quoted variables src, dest, creates, remote,
# own, grp, attrs). The archive is `$src` on the host, or (remote=0) arrives on stdin and is kept
# in a private temporary file for the length of this command.
export LANG=C LC_ALL=C LC_MESSAGES=C
set --
[ -z "$own" ] || set -- "$@" "--owner=$own"
[ -z "$grp" ] || set -- "$@" "--group=$grp"
if [ -n "$creates" ] && [ -e "$creates" ]; then echo CREATES; exit 0; fi
[ -d "$dest" ] || { echo NODEST; exit 0; }
tmp=
trap '[ -z "$tmp" ] || rm -f -- "$tmp"' EXIT
if [ "$remote" = 0 ]; then
  tmp=$(mktemp) || exit 97
  cat > "$tmp" || exit 97
  a=$tmp
else
  a=$src
  [ -f "$a" ] || { echo NOSRC; exit 0; }
fi
[ -s "$a" ] || { echo EMPTY; exit 0; }
m=$(head -c 6 -- "$a" | od -An -tx1 | tr -d ' \n')
case $m in
  1f8b*) z=-z ;;
  fd377a585a00) z=-J ;;
  425a68*) z=-j ;;
  28b52ffd*) z=--zstd ;;
  504b0304*) echo ZIP; exit 0 ;;
  *) z= ;;
esac
echo "FLAG $z"
echo "UID $(id -u)"
tar $z -t -f "$a" > /dev/null 2>&1 || { echo "BAD $(tar $z -t -f "$a" 2>&1 >/dev/null | head -n 3 | tr '\n' ' ')"; exit 0; }
tar $z -t -f "$a" | sed 's/^/F /'
tar --diff -C "$dest" $z "$@" -f "$a" 2>&1 | sed 's/^/D /'
if [ "$attrs" = 1 ]; then
  cd "$dest" && tar $z -t -f "$a" | sed 's|^/||' | xargs -r -d '\n' stat -c 'A %a %u %g %U %G %F|%n' -- 2>/dev/null
fi
exit 0

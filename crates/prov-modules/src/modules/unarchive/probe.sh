# unarchive's one planning command (after the quoted variables src, dest, creates, remote,
# own, grp, attrs): a zip archive (any archive unzip can list) or a tar archive. The archive is `$src` on the host, or (remote=0) arrives on stdin and is kept
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
case $a in /*) ;; *) a=$PWD/$a ;; esac
# Ansible tries its zip handlers first: unzip (and zipinfo, or `unzip -Z`) that can list it.
if command -v unzip > /dev/null 2>&1 && unzip -l "$a" > /dev/null 2>&1; then
  if command -v zipinfo > /dev/null 2>&1; then zi=zipinfo; echo "ZIP ZipArchive"
  else zi="unzip -Zl"; echo "ZIP ZipZArchive"; fi
  echo "RUN $(id -u) $(id -g) $(id -un) $(id -gn)"
  echo "GROUPS $(id -G)"
  echo "UMASK $(umask)"
  y=$(date +%Y)
  echo "TZ $(date -d "$y-01-01" +%z) $(date -d "$y-07-01" +%z)"
  [ -z "$own" ] || getent passwd "$own" | head -n 1 | awk -F: '{print "FUTO " $3 " " $1}'
  [ -z "$grp" ] || getent group "$grp" | head -n 1 | awk -F: '{print "FUTG " $3 " " $1}'
  out=$($zi -T -s "$a" 2>/dev/null)
  echo "ZRC $?"
  printf '%s\n' "$out" | sed 's/^/Z /'
  unzip -v "$a" | sed 's/^/V /'
  unzip -Z1 "$a" | sed 's/^/N /'
  cd "$dest" || exit 97
  unzip -Z1 "$a" | xargs -r -d '\n' stat -c 'A %f %u %g %U %G %s %y|%n' -- 2>/dev/null
  unzip -Z1 "$a" | while IFS= read -r n; do
    if [ -f "$n" ] && [ ! -L "$n" ]; then
      echo "K $(gzip -1 -c < "$n" | tail -c 8 | head -c 4 | od -An -tx1 | tr -d ' \n')|$n"
    fi
  done
  if [ "$attrs" = 1 ]; then
    unzip -Z1 "$a" | sed -n 's|^\([^/]*\)/.*|\1|p' | awk '!s[$0]++' \
      | xargs -r -d '\n' stat -c 'T %f %u %g %U %G %s %y|%n' -- 2>/dev/null
  fi
  exit 0
fi
m=$(head -c 6 -- "$a" | od -An -tx1 | tr -d ' \n')
case $m in
  1f8b*) z=-z ;;
  fd377a585a00) z=-J ;;
  425a68*) z=-j ;;
  28b52ffd*) z=--zstd ;;
  504b0304*) echo "NOZIP Unable to find required 'unzip' or 'zipinfo' binary in the path."; exit 0 ;;
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

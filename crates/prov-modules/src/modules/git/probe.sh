# git probe: G REPO DEST V R BARE UPDATE RECURSIVE set before this text.
export LANG=C LC_ALL=C LC_MESSAGES=C LC_CTYPE=C LANGUAGE=C
# A relative dest is from the login directory (Ansible's os.path.abspath).
case $DEST in ''|/*) ;; *) DEST=$PWD/$DEST ;; esac
if ! command -v "$G" >/dev/null 2>&1; then echo "nogit=1"; exit 0; fi
repo=0
if [ -n "$DEST" ]; then
  if [ "$BARE" = 1 ]; then gd=$DEST; else gd=$DEST/.git; fi
  if [ -f "$gd" ]; then
    p=$(sed -n 's/^gitdir: //p' "$gd")
    case $p in /*) gd=$p ;; *) gd=$DEST/$p ;; esac
  fi
  [ -f "$gd/config" ] && repo=1
fi
echo "repo=$repo"
hb=
if [ "$repo" = 1 ]; then
  cd "$DEST" || exit 1
  echo "head=$("$G" rev-parse HEAD 2>/dev/null)"
  hb=$("$G" symbolic-ref -q --short HEAD) ||
    { hb=$("$G" symbolic-ref -q --short "refs/remotes/$R/HEAD"); hb=${hb#"$R"/}; }
  echo "head_branch=$hb"
  if [ "$UPDATE" = 1 ]; then
    if [ "$BARE" = 1 ]; then n=0; else
      n=$("$G" status --porcelain | grep -cv '^??')
    fi
    echo "mods=$n"
    echo "url=$("$G" ls-remote --get-url "$R" 2>/dev/null)"
  fi
  if [ "$RECURSIVE" = 1 ] && [ "$BARE" != 1 ] && [ -f .gitmodules ]; then
    s=0
    for p in $(sed -n 's/^[[:space:]]*path[[:space:]]*=[[:space:]]*//p' .gitmodules); do
      [ -e "$p/.git" ] || s=1
    done
    "$G" submodule status | grep -q '^[^ ]' && s=1
    echo "submodules=$s"
  fi
fi
# update: no leaves a checkout alone without asking the remote (as Ansible).
if [ "$repo" = 1 ] && [ "$UPDATE" != 1 ]; then echo "kind=head"; exit 0; fi
lsr() { "$G" ls-remote "$REPO" "$@" || exit 3; }
if [ "$V" = HEAD ] || [ "$BARE" = 1 ]; then
  if [ "$repo" = 1 ] && [ -n "$hb" ]; then out=$(lsr -h "refs/heads/$hb"); else out=$(lsr HEAD); fi
  echo "head_remote=${out%%[[:space:]]*}"
fi
if [ "$V" = HEAD ]; then echo "kind=head"; exit 0; fi
out=$(lsr -h "refs/heads/$V")
if [ -n "$out" ]; then echo "kind=branch"; echo "remote=${out%%[[:space:]]*}"; exit 0; fi
out=$(lsr -t "refs/tags/$V" "refs/tags/$V^{}")
if [ -n "$out" ]; then
  d=$(printf '%s\n' "$out" | grep -F "refs/tags/$V^{}")
  [ -n "$d" ] && out=$d
  echo "kind=tag"; echo "remote=${out%%[[:space:]]*}"; exit 0
fi
echo "kind=sha"
if [ "$repo" = 1 ]; then echo "remote=$("$G" rev-parse -q --verify "$V^{commit}" 2>/dev/null)"; fi

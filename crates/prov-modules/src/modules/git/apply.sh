# git apply: G REPO DEST V R OP BARE FORCE RESET SETURL KIND DEPTH REFSPEC REFERENCE SINGLE
# RECURSIVE TRACK set before this text.
set -e
export LANG=C LC_ALL=C LC_MESSAGES=C LC_CTYPE=C LANGUAGE=C
# A relative dest is from the login directory (Ansible's os.path.abspath).
case $DEST in ''|/*) ;; *) DEST=$PWD/$DEST ;; esac
dfl() { [ -n "$DEPTH" ] && printf -- '--depth\n%s\n' "$DEPTH"; return 0; }
if [ "$OP" = clone ]; then
  mkdir -p "$(dirname "$DEST")"
  set -- clone
  if [ "$BARE" = 1 ]; then set -- "$@" --bare; else set -- "$@" --origin "$R"; fi
  if [ -n "$DEPTH" ]; then
    if [ "$V" = HEAD ] || [ -n "$REFSPEC" ]; then set -- "$@" --depth "$DEPTH"
    elif [ "$KIND" = branch ] || [ "$KIND" = tag ]; then set -- "$@" --depth "$DEPTH" --branch "$V"
    fi
  fi
  [ -n "$REFERENCE" ] && set -- "$@" --reference "$REFERENCE"
  if [ "$SINGLE" = 1 ]; then
    set -- "$@" --single-branch
    if [ "$KIND" = branch ] || [ "$KIND" = tag ]; then set -- "$@" --branch "$V"; fi
  fi
  (cd "$(dirname "$DEST")" && "$G" "$@" "$REPO" "$DEST")
  cd "$DEST"
  if [ "$BARE" = 1 ] && [ "$R" != origin ]; then "$G" remote add "$R" "$REPO"; fi
  if [ -n "$REFSPEC" ]; then "$G" fetch $(dfl) "$R" "$REFSPEC"; fi
else
  cd "$DEST"
  [ "$RESET" = 1 ] && "$G" reset --hard HEAD
  [ "$SETURL" = 1 ] && "$G" remote set-url "$R" "$REPO"
  set -- fetch
  refs=
  if [ -n "$DEPTH" ]; then
    hb=$("$G" symbolic-ref -q --short HEAD) ||
      { hb=$("$G" symbolic-ref -q --short "refs/remotes/$R/HEAD"); hb=${hb#"$R"/}; }
    if [ -n "$REFSPEC" ]; then refs=$REFSPEC
    elif [ "$V" = HEAD ]; then refs=$hb
    elif [ "$KIND" = branch ]; then
      [ "$hb" != "$V" ] && refs="+refs/heads/$V:refs/heads/$V"
      refs="$refs +refs/heads/$V:refs/remotes/$R/$V"
    elif [ "$KIND" = tag ]; then refs="+refs/tags/$V:refs/tags/$V"
    fi
    [ -n "$refs" ] && set -- "$@" --depth "$DEPTH"
  fi
  if [ -z "$refs" ]; then
    if [ "$BARE" = 1 ]; then refs='+refs/heads/*:refs/heads/* +refs/tags/*:refs/tags/*'
    else set -- "$@" --tags; fi
    [ -n "$REFSPEC" ] && refs="$refs $REFSPEC"
  fi
  [ "$FORCE" = 1 ] && set -- "$@" --force
  set -f
  # shellcheck disable=SC2086
  "$G" "$@" "$R" $refs
  set +f
fi
if [ "$BARE" = 1 ]; then echo "after=$("$G" rev-parse HEAD)"; exit 0; fi
if [ "$V" = HEAD ]; then
  b=$("$G" symbolic-ref -q --short HEAD) ||
    { b=$("$G" symbolic-ref -q --short "refs/remotes/$R/HEAD"); b=${b#"$R"/}; }
  "$G" checkout --force "$b"
  "$G" reset --hard "$R/$b" --
elif [ "$KIND" = branch ]; then
  if "$G" show-ref --verify -q "refs/heads/$V"; then
    "$G" checkout --force "$V"
    "$G" reset --hard "$R/$V"
  else
    if [ -n "$DEPTH" ]; then
      "$G" fetch "--depth=$DEPTH" "$R" "+refs/heads/$V:refs/heads/$V" "+refs/heads/$V:refs/remotes/$R/$V"
    fi
    "$G" checkout --track -b "$V" "$R/$V"
  fi
else
  "$G" checkout --force "$V"
fi
if [ "$RECURSIVE" = 1 ] && [ -f .gitmodules ]; then
  "$G" submodule sync
  set -- submodule update --init --recursive
  [ "$TRACK" = 1 ] && set -- "$@" --remote
  [ "$FORCE" = 1 ] && set -- "$@" --force
  "$G" "$@"
fi
echo "after=$("$G" rev-parse HEAD)"

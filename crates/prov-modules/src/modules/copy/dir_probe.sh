# copy of a directory: the state of every destination path, one a line on stdin after its
# letter (F: a file, not following links, with its SHA-256; N: the same without checksum;
# D: a directory, following links). The output is PathsFact's (remote_file.rs).
while IFS= read -r l; do
  p=${l#?}
  echo @
  case $l in
  D*)
    if [ -e "$p" ]; then
      stat -L --printf 'S %f %u %g %s %Y %X %Z %i %d %h\nU %U\nG %G\n' -- "$p" || exit 97
    fi
    ;;
  *)
    if [ -e "$p" ] || [ -L "$p" ]; then
      stat --printf 'S %f %u %g %s %Y %X %Z %i %d %h\nU %U\nG %G\n' -- "$p" || exit 97
      if [ -L "$p" ]; then
        printf 'L %s\n' "$(readlink -- "$p")"
      elif [ -f "$p" ] && [ "${l%"$p"}" = F ]; then
        c=$(sha256sum < "$p") || { echo "cannot read $p" >&2; exit 98; }
        echo "C ${c%% *}"
      fi
    fi
    ;;
  esac
done

# After the passwd entry and with $p set: the key file, where a write goes (a link's target),
# then `content` and the file's bytes when it is a regular file.
printf '%s\n' "$p"
r=
if [ -n "$p" ]; then r=$(readlink -m -- "$p" 2>/dev/null) || r=$p; fi
printf '%s\n' "$r"
if [ -n "$p" ] && [ -f "$p" ]; then echo content; exec cat -- "$p"; fi

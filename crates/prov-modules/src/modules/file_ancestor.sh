# The deepest existing ancestor of "$p": `A <dir>` when it is a directory, `N <path>` when
# something else is in the way.
a="$p"
while [ ! -e "$a" ] && [ ! -L "$a" ] && [ "$a" != / ] && [ "$a" != . ]; do a=$(dirname -- "$a"); done
if [ -d "$a" ]; then printf 'A %s\n' "$a"; else printf 'N %s\n' "$a"; fi

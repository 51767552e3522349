# What community.crypto.openssh_keypair reads: $k is the private key, $d its directory.
# Command outputs are base64 on one line (comments may hold anything).
if [ -d "$d" ]; then echo 'dir 1'; else echo 'dir 0'; fi
if [ -d "$k" ]; then echo 'isdir 1'; else echo 'isdir 0'; fi
if command -v ssh-keygen >/dev/null 2>&1; then kg=1; else kg=0; fi
echo "keygen $kg"
if command -v ssh >/dev/null 2>&1; then
  printf 'ssh %s\n' "$(ssh -V -q 2>&1 >/dev/null </dev/null | base64 -w0)"
fi
if [ -e "$k" ] && [ "$kg" = 1 ]; then
  o=$(ssh-keygen -l -f "$k" </dev/null 2>/dev/null); rc=$?
  printf 'l %s %s\n' "$rc" "$(printf '%s' "$o" | base64 -w0)"
  o=$(ssh-keygen -P '' -y -f "$k" </dev/null 2>/dev/null); rc=$?
  e=$(ssh-keygen -P '' -y -f "$k" </dev/null 2>&1 >/dev/null)
  printf 'y %s %s %s\n' "$rc" "$(printf '%s' "$o" | base64 -w0)" "$(printf '%s' "$e" | base64 -w0)"
fi
if [ -e "$k.pub" ]; then
  if c=$(base64 -w0 < "$k.pub" 2>/dev/null); then printf 'pub %s\n' "$c"; else echo 'pub !'; fi
fi

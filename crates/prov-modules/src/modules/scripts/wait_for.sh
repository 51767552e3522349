# The wait_for loop. Set before: h (host), p (port), f (path), re (extended regex, may be
# empty), ct (connect timeout), kind (port, port_re, file, file_re), present (1: wait for
# presence, else absence), delay, timeout, pause (seconds).
# Prints `elapsed=N` and exits 0 when the condition holds, 3 when the deadline passed.
if [ "$kind" = port ] || [ "$kind" = port_re ]; then
  command -v bash >/dev/null 2>&1 || { echo 'wait_for: bash is needed on the host for port checks' >&2; exit 2; }
fi
probe() {
  case $kind in
    port) timeout "$ct" bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$h" "$p" 2>/dev/null ;;
    port_re) timeout "$ct" bash -c 'exec 3<>"/dev/tcp/$1/$2" && cat <&3' _ "$h" "$p" 2>/dev/null | grep -Eq -- "$re" ;;
    file) [ -e "$f" ] ;;
    file_re) grep -Eq -- "$re" "$f" 2>/dev/null ;;
  esac
}
# Absence of a file with a pattern: the pattern no longer matches (or the file is gone).
check() {
  if [ "$present" = 1 ]; then probe; else ! probe; fi
}
sleep "$delay"
start=$(date +%s)
end=$((start + timeout))
while :; do
  if check; then echo "elapsed=$(( $(date +%s) - start ))"; exit 0; fi
  if [ "$(date +%s)" -ge "$end" ]; then echo "elapsed=$(( $(date +%s) - start ))"; exit 3; fi
  sleep "$pause"
done

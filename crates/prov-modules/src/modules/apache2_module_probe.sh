# apache2_module probe: the control program, `-M` (exit status, output, errors) and `-V`.
p=
for c in apache2ctl apachectl; do
  p=$(PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin command -v "$c") && break
done
if [ -z "$p" ]; then echo nobin; exit 0; fi
e=$(mktemp) || exit 1
out=$("$p" -M 2>"$e"); rc=$?
t=0
"$p" -V 2>/dev/null | grep -q 'threaded: *yes' && t=1
printf 'ctl=%s\nrc=%s\nthreaded=%s\n--stdout--\n%s\n--stderr--\n' "$p" "$rc" "$t" "$out"
cat "$e"
rm -f "$e"

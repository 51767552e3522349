# Runs SQL with the host's mysql client. Set before this text: logins (how many option files
# come first on stdin), config_file (Ansible's config_file, read through !include when it
# exists). stdin: each option file ended by a line `#prov-end`, then the SQL. The option files
# (they hold passwords) live in a private directory removed on exit. The first login that
# connects runs the SQL; exit 3 (with the client's error) when none does.
umask 077
d=$(mktemp -d) || exit 1
trap 'rm -rf "$d"' EXIT
case $config_file in
  "~") config_file=$HOME ;;
  "~/"*) config_file=$HOME/${config_file#"~/"} ;;
esac
i=0
while [ "$i" -lt "$logins" ]; do
  i=$((i + 1))
  : >"$d/$i.cnf"
  if [ -n "$config_file" ] && [ -f "$config_file" ]; then
    printf '!include %s\n' "$config_file" >>"$d/$i.cnf"
  fi
  while IFS= read -r line; do
    [ "$line" = '#prov-end' ] && break
    printf '%s\n' "$line" >>"$d/$i.cnf"
  done
done
if ! command -v mysql >/dev/null 2>&1; then
  echo "no mysql client (mysql) on the host" >&2
  exit 4
fi
i=0
err=
while [ "$i" -lt "$logins" ]; do
  i=$((i + 1))
  if err=$(mysql --defaults-file="$d/$i.cnf" -NBe 'SELECT 1' 2>&1 >/dev/null); then
    mysql --defaults-file="$d/$i.cnf" --batch --skip-column-names
    exit $?
  fi
done
printf '%s\n' "$err" >&2
exit 3

# Runs SQL with the host's psql, which connects through libpq as psycopg does. Set before
# this text: pg_user_mode (given: PGUSER=$pg_user; default: $PGUSER or postgres, as the
# module's default; libpq: left to libpq), pg_user, pg_host (empty: left to libpq), pg_port
# (empty: $PGPORT or 5432, as the module's default), pg_db (empty: left to libpq), pg_sslmode,
# pg_pwlen. stdin: the login password (pg_pwlen bytes, exported as PGPASSWORD: never on a
# command line), then the SQL. psql exits 2 when it cannot connect, 3 when a statement fails.
if [ "$pg_pwlen" -gt 0 ]; then
  PGPASSWORD=$(dd bs=1 count="$pg_pwlen" 2>/dev/null; printf x)
  PGPASSWORD=${PGPASSWORD%x}
  export PGPASSWORD
fi
if ! command -v psql >/dev/null 2>&1; then
  echo "no PostgreSQL client (psql) on the host" >&2
  exit 4
fi
case $pg_user_mode in
  given) PGUSER=$pg_user; export PGUSER ;;
  default) PGUSER=${PGUSER:-postgres}; export PGUSER ;;
esac
if [ -n "$pg_host" ]; then PGHOST=$pg_host; export PGHOST; fi
PGPORT=${pg_port:-${PGPORT:-5432}}
export PGPORT
if [ -n "$pg_db" ]; then PGDATABASE=$pg_db; export PGDATABASE; fi
PGSSLMODE=$pg_sslmode
export PGSSLMODE
exec psql -X -q -A -t -v ON_ERROR_STOP=1 -f -

#!/bin/sh
# PostgreSQL 15 for Mistral: initialise on first start with a password-protected mistral role and database.
set -eu
: "${DB_PASSWORD:?}"
BIN=/usr/lib/postgresql/15/bin
DATA=/var/lib/postgresql/data
mkdir -p "$DATA" /run/postgresql && chown -R postgres:postgres "$DATA" /run/postgresql
if [ ! -s "$DATA/PG_VERSION" ]; then
  echo "$DB_PASSWORD" > /tmp/pwfile && chown postgres /tmp/pwfile
  su postgres -s /bin/sh -c "$BIN/initdb -D $DATA -U postgres --pwfile=/tmp/pwfile --auth=scram-sha-256 >/dev/null"
  rm -f /tmp/pwfile
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$DATA/pg_hba.conf"
  su postgres -s /bin/sh -c "$BIN/postgres --single -D $DATA postgres" >/dev/null <<SQL
CREATE ROLE mistral LOGIN PASSWORD '${DB_PASSWORD}';
CREATE DATABASE mistral OWNER mistral;
SQL
  # A template (cluster/db_template.py): load it into a server reachable only on a private socket (the
  # healthcheck stays red), stop that server, then start the real one.
  if [ -n "${DB_TEMPLATE:-}" ]; then
    mkdir -p /run/lab-template && chown postgres /run/lab-template
    su postgres -s /bin/sh -c "$BIN/pg_ctl -D $DATA -w -s -o \"-c listen_addresses='' -k /run/lab-template\" start"
    PGPASSWORD="$DB_PASSWORD" psql -q -v ON_ERROR_STOP=1 -h /run/lab-template -U mistral -d mistral \
      -f "$DB_TEMPLATE" >/dev/null
    su postgres -s /bin/sh -c "$BIN/pg_ctl -D $DATA -w -s stop"
  fi
fi
exec su postgres -s /bin/sh -c "exec $BIN/postgres -D $DATA -c listen_addresses='*' -c max_connections=1000"

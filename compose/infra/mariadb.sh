#!/bin/sh
# MariaDB for Mistral: initialise the data dir on first start, create the database and user every start.
set -eu
: "${DB_PASSWORD:?}"
DATA=/var/lib/mysql
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld "$DATA"
FRESH=0
if [ ! -d "$DATA/mysql" ]; then
  mariadb-install-db --user=mysql --datadir="$DATA" --skip-test-db >/dev/null
  FRESH=1
fi
cat > /run/mysqld/init.sql <<SQL
CREATE DATABASE IF NOT EXISTS mistral CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'mistral'@'%' IDENTIFIED BY '${DB_PASSWORD}';
GRANT ALL PRIVILEGES ON mistral.* TO 'mistral'@'%';
FLUSH PRIVILEGES;
SQL
chown mysql /run/mysqld/init.sql
# A fresh volume with a template (cluster/db_template.py): load it into a server nobody can reach yet (no TCP,
# its own socket, so the healthcheck stays red), stop that server, then start the real one.
if [ "$FRESH" = 1 ] && [ -n "${DB_TEMPLATE:-}" ]; then
  SOCK=/run/mysqld/template.sock
  mariadbd --user=mysql --datadir="$DATA" --skip-networking --socket="$SOCK" --init-file=/run/mysqld/init.sql &
  LOADER=$!
  i=0
  until mariadb-admin --socket="$SOCK" ping >/dev/null 2>&1; do
    i=$((i + 1)); [ "$i" -lt 300 ] || { echo "template load: server did not start" >&2; exit 1; }
    sleep 0.1
  done
  mariadb --socket="$SOCK" mistral < "$DB_TEMPLATE"
  mariadb-admin --socket="$SOCK" shutdown
  wait "$LOADER" || true
fi
exec mariadbd --user=mysql --datadir="$DATA" --bind-address=0.0.0.0 --skip-name-resolve \
  --init-file=/run/mysqld/init.sql --max-connections=1000 --innodb-flush-log-at-trx-commit=1

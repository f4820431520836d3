#!/bin/sh
# MariaDB for Mistral: initialise the data dir on first start, create the database and user every start.
set -eu
: "${DB_PASSWORD:?}"
DATA=/var/lib/mysql
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld "$DATA"
if [ ! -d "$DATA/mysql" ]; then
  mariadb-install-db --user=mysql --datadir="$DATA" --skip-test-db >/dev/null
fi
cat > /run/mysqld/init.sql <<SQL
CREATE DATABASE IF NOT EXISTS mistral CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'mistral'@'%' IDENTIFIED BY '${DB_PASSWORD}';
GRANT ALL PRIVILEGES ON mistral.* TO 'mistral'@'%';
FLUSH PRIVILEGES;
SQL
chown mysql /run/mysqld/init.sql
exec mariadbd --user=mysql --datadir="$DATA" --bind-address=0.0.0.0 --skip-name-resolve \
  --init-file=/run/mysqld/init.sql --max-connections=1000 --innodb-flush-log-at-trx-commit=1

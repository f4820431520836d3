#!/bin/sh
# RabbitMQ for Mistral; the config (user, password) is mounted at /etc/rabbitmq/rabbitmq.conf.
# RABBITMQ_NODENAME comes from the container environment so `docker exec ... rabbitmqctl` finds the node.
set -eu
mkdir -p /var/lib/rabbitmq /var/log/rabbitmq
chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq
exec /usr/sbin/rabbitmq-server

#!/bin/sh
# Starts one Mistral component. MISTRAL_ROLE: api|engine|executor|notifier|db-init; MISTRAL_NODE: the stable
# node name, used as oslo `host` so node identity shows in Mistral's data, logs and RPC queue names.
set -eu
: "${MISTRAL_ROLE:?}" "${MISTRAL_NODE:?}"
# [engine]/[executor]/[notifier] host is the RPC server id (queue <topic>.<host>); [api] host is the bind address.
printf '[DEFAULT]\nhost = %s\n' "$MISTRAL_NODE" > /tmp/node.conf
case "$MISTRAL_ROLE" in
  engine|executor|notifier) printf '[%s]\nhost = %s\n' "$MISTRAL_ROLE" "$MISTRAL_NODE" >> /tmp/node.conf ;;
esac
CONF="--config-file /etc/mistral/mistral.conf --config-file /tmp/node.conf"
case "$MISTRAL_ROLE" in
  db-init)
    mistral-db-manage $CONF upgrade head
    exec mistral-db-manage $CONF populate ;;
  api|engine|executor|notifier)
    exec mistral-server --server "$MISTRAL_ROLE" $CONF ;;
  *)
    echo "unknown MISTRAL_ROLE $MISTRAL_ROLE" >&2; exit 2 ;;
esac

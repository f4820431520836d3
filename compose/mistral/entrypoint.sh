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
# In-process faults start cleared: an RPC rule (crash-after above all) must not outlive the process it was
# meant for, and no strobe loop survives a restart. A clock offset stays: a skewed node stays skewed.
# The warm launcher's files too: a pid kept from the container's last life would name another process.
rm -f /run/lab-rpc/rules.json /run/lab-rpc/rules.json.tmp /run/lab-rpc/state.json /run/lab-clock/strobe.pid \
  /run/mistral-server-warm.pid /run/mistral-server-warm.held
mkdir -p /run/lab-rpc /run/lab-clock
# libfaketime (the `clock` fault) in the Mistral server only, never in db-init or docker exec shells. It
# reads its offset from FAKETIME_TIMESTAMP_FILE (absent or +0: true time) at most once a second, and leaves
# CLOCK_MONOTONIC alone so timers and timeouts keep working. FAKETIME_FORCE_MONOTONIC_FIX=0: the glibc
# workaround 0.9.10 turns on by itself makes every timed wait spin (10x Mistral's CPU per workflow here) and
# is not needed when the monotonic clock is not faked. MISTRAL_LAB_CLOCK=0 leaves libfaketime out.
preload_faketime() {
  [ "${MISTRAL_LAB_CLOCK:-1}" != 0 ] || return 0
  for lib in /usr/lib/*/faketime/libfaketimeMT.so.1; do
    [ -f "$lib" ] || continue
    export LD_PRELOAD="$lib" FAKETIME_TIMESTAMP_FILE=/run/lab-clock/faketime FAKETIME_CACHE_DURATION=1 \
      FAKETIME_DONT_FAKE_MONOTONIC=1 FAKETIME_FORCE_MONOTONIC_FIX=0
    return 0
  done
}
case "$MISTRAL_ROLE" in
  db-init)
    if [ "${MISTRAL_LAB_DB_TEMPLATE:-0}" = 1 ]; then  # the database loaded the template before it was healthy
      echo "schema and populate: loaded from the lab's database template"; exit 0
    fi
    mistral-db-manage $CONF upgrade head
    exec mistral-db-manage $CONF populate ;;
  api|engine|executor|notifier)
    preload_faketime
    # mistral-server-warm (warm_start.py) imports Mistral once and forks mistral-server from there, so
    # `mistral-lab reset` restarts the server without paying its imports again; 0 runs mistral-server itself.
    if [ "${MISTRAL_LAB_WARM_START:-1}" != 0 ]; then
      exec python3 /usr/local/bin/mistral-server-warm --server "$MISTRAL_ROLE" $CONF
    fi
    # Without the launcher, the same first-start wait for MISTRAL_LAB_WAIT_FOR (see warm_start.py), in bash.
    if [ ! -f /run/mistral-server.started ]; then
      for peer in $(echo "${MISTRAL_LAB_WAIT_FOR:-}" | tr ',' ' '); do
        i=0
        until bash -c "exec 3<>/dev/tcp/${peer%:*}/${peer##*:}" 2>/dev/null || [ "$i" -ge 900 ]; do
          i=$((i + 1)); sleep 0.2
        done
      done
      touch /run/mistral-server.started
    fi
    exec mistral-server --server "$MISTRAL_ROLE" $CONF ;;
  *)
    echo "unknown MISTRAL_ROLE $MISTRAL_ROLE" >&2; exit 2 ;;
esac

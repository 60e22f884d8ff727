#!/usr/bin/env bash
# Make sure the services the tests talk to are running: RabbitMQ (with the management
# and prometheus plugins), PostgreSQL (database `test`), and promtool for the alert
# rule tests. Starts what is installed but stopped; installs from Debian's packages
# what is missing (needs root). Idempotent: fast when everything is up.
set -euo pipefail

apt_updated=0
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "ensure-services: $* missing and not root; install it by hand" >&2
    return 1
  fi
  if [ $apt_updated = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- RabbitMQ ---------------------------------------------------------------------------
if ! port_open 5672; then
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  echo "ensure-services: starting RabbitMQ"
  rabbitmq-server -detached || true
  for _ in $(seq 1 60); do port_open 5672 && break; sleep 1; done
fi
rabbitmqctl await_startup >/dev/null 2>&1 || true
port_open 5672 || { echo "ensure-services: RabbitMQ did not start" >&2; exit 1; }
if ! rabbitmq-plugins list -e 2>/dev/null | grep -q rabbitmq_management; then
  rabbitmq-plugins enable rabbitmq_management rabbitmq_prometheus >/dev/null
fi

# --- PostgreSQL -------------------------------------------------------------------------
if ! port_open 5432; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then apt_install postgresql; fi
  echo "ensure-services: starting PostgreSQL"
  version=$(ls /etc/postgresql | sort -V | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do port_open 5432 && break; sleep 1; done
fi
if port_open 5432 && command -v psql >/dev/null; then
  if ! psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname='test'" 2>/dev/null | grep -q 1; then
    (su postgres -c "createdb test" 2>/dev/null || createdb -h 127.0.0.1 -U postgres test 2>/dev/null) || true
  fi
fi

# --- Redis (the shared rate-limit store's tests) ---------------------------------------
if ! port_open 6379; then
  command -v redis-server >/dev/null || apt_install redis-server
  echo "ensure-services: starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp --logfile /tmp/minwon-redis.log || true
  for _ in $(seq 1 20); do port_open 6379 && break; sleep 0.5; done
fi

# --- Chromium (the studio's browser tests, driven by Playwright; no browser download) ---
# Debian's chromium and a Korean font (the pages and their screenshots are Korean).
command -v chromium >/dev/null || apt_install chromium || true
fc-list 2>/dev/null | grep -qi "noto sans cjk" || apt_install fonts-noto-cjk || true

# --- promtool (alert rule unit tests) ---------------------------------------------------
command -v promtool >/dev/null || apt_install prometheus || true

echo "ensure-services: RabbitMQ $(port_open 5672 && echo up || echo DOWN), PostgreSQL $(port_open 5432 && echo up || echo DOWN), Redis $(port_open 6379 && echo up || echo DOWN), promtool $(command -v promtool >/dev/null && echo yes || echo no), chromium $(command -v chromium >/dev/null && echo yes || echo no)"

#!/usr/bin/env bash
# Make sure a local Redis (127.0.0.1:6379) answers; start Debian's redis-server if not
# (loopback only, nothing kept on disk). The cluster and its tests use it.
set -u
ready() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
ready && exit 0
if command -v redis-server >/dev/null 2>&1; then
  redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes >/dev/null 2>&1 || true
  for _ in $(seq 1 20); do ready && exit 0; sleep 0.5; done
fi
echo "Redis is not reachable on 127.0.0.1:6379 and could not be started here." >&2
exit 1

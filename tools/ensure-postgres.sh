#!/usr/bin/env bash
# Make sure the local PostgreSQL (127.0.0.1:5432) answers; start the Debian cluster if not.
# The integration tests use it; they fail with a clear message when it cannot be had.
set -u
ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
ready && exit 0
if command -v pg_ctlcluster >/dev/null 2>&1; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$version" ]; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>&1 || true
    for _ in $(seq 1 30); do ready && exit 0; sleep 1; done
  fi
fi
echo "PostgreSQL is not reachable on 127.0.0.1:5432 and could not be started here." >&2
exit 1

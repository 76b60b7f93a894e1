#!/usr/bin/env bash
# Install the Debian packages the project needs (speech: espeak-ng, and libime's general Chinese
# dictionary, language model and tools for the recogniser's pinyin → 汉字 conversion; the console's browser tests:
# Chromium, driven by Playwright — never a downloaded browser — and a Chinese font for it), if
# they are missing. The cluster (make run-cluster, its tests): HAProxy, supervisord and Redis. The
# benchmarks' HTTP load generator: wrk.
# Needs root and apt-get; otherwise says what to install and fails.
set -u
packages=(espeak-ng libime-data libime-data-language-model libime-bin chromium chromium-driver fonts-wqy-microhei
          haproxy supervisor redis-server wrk)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "Please install these Debian packages: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
  || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}"; }

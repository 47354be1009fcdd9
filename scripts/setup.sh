#!/usr/bin/env bash
# One-time set-up on a fresh Debian/Ubuntu machine: system fonts and PDF tools, then a venv with the
# package and its dev tools. `--spark` adds a Java runtime and the spark extra (the optional Spark engine;
# the test command uses it, the demo does not need it). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
spark=0; [ "${1:-}" = "--spark" ] && spark=1
need_apt=()
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need_apt+=(fonts-noto-cjk)
command -v pdffonts >/dev/null 2>&1 || need_apt+=(poppler-utils)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)  # SM2 signatures, RFC 3161 checks (forensics/witness.py)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)  # the HTML exhibit layout test (headless)
if [ $spark -eq 1 ]; then
    command -v java >/dev/null 2>&1 || need_apt+=(default-jre-headless)  # --engine spark and its tests (pyspark)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null
if [ $spark -eq 1 ]; then
    .venv/bin/pip install -q -e ".[dev,spark]"
else
    .venv/bin/pip install -q -e ".[dev]"
fi

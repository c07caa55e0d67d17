#!/usr/bin/env bash
# The code assessor's OS sandbox: bubblewrap (bwrap). Installed with apt-get where that works, else one line on how.
set -u
if command -v bwrap >/dev/null 2>&1; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "install: bubblewrap (the code assessor's sandbox)"
  if apt-get install -y -q bubblewrap >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q bubblewrap >/dev/null 2>&1; }; then
    exit 0
  fi
fi
echo "install: bubblewrap (bwrap) is missing: the code assessor refuses to run untrusted code without it." \
  "Install it with your package manager (Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: sudo dnf install bubblewrap)."
exit 0

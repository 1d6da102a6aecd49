#!/usr/bin/env bash
# Installs Debian's Chromium and its matching ChromeDriver for the browser tests in tests/browser; `make test`
# runs it. Browser downloads by Selenium Manager or Playwright cannot reach the internet here, so the tests
# drive /usr/bin/chromium through /usr/bin/chromedriver. When they cannot be had, this prints a SKIP line and
# the browser tests skip (outside CI) or fail (in CI). Always exits 0: the tests, not this script, judge.
set -uo pipefail

have() { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }
root=()
[ "$(id -u)" = 0 ] || root=(sudo -n)
apt() { timeout 600 "${root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq "$@" >/dev/null 2>&1; }
install() {
    local packages=(install -y --no-install-recommends chromium chromium-driver)
    apt "${packages[@]}" || { apt update && apt "${packages[@]}"; }
}

start=$SECONDS
if have || { install && have; }; then
    echo "browser ready in $((SECONDS - start)) s: $(chromium --version 2>/dev/null)"
else
    echo "SKIP: chromium and chromium-driver could not be installed with apt-get: browser tests skip" >&2
fi
exit 0

#!/usr/bin/env bash
# The test command of README.md: installs what the tests need on a fresh machine, then runs them.
#   bash tests/run.sh            # every test
#   bash tests/run.sh reports    # extra arguments go to `cargo test`
set -euo pipefail
cd "$(dirname "$0")/.."

# The report tests open report.html in Debian's Chromium through Playwright (told to use
# /usr/bin/chromium, so it downloads no browser of its own) and validate junit.xml with xmllint.
need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v xmllint >/dev/null || need_apt+=(libxml2-utils)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
python3 -c "import playwright" 2>/dev/null \
  || python3 -m pip install -q --disable-pip-version-check "playwright==1.65.2"
# The AWS tests run against moto's server (a real AWS-compatible server on 127.0.0.1). Their
# helper starts one when HERD_MOTO_ENDPOINT does not name a running one.
python3 -c "import moto, flask" 2>/dev/null && [ "$(python3 -c 'import moto; print(moto.__version__)')" = "5.2.5" ] \
  || python3 -m pip install -q --disable-pip-version-check "moto[server]==5.2.5"

cargo test --locked "$@"

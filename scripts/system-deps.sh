#!/usr/bin/env bash
# System packages the test suite needs: Debian's Chromium for the browser tests and
# mono-mcs and mono-runtime to compile and run the C# protocol sample, proj-data for the
# geoid-grid height check. Installed only when missing; needs root.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v mcs >/dev/null 2>&1 || need+=(mono-mcs)
command -v mono >/dev/null 2>&1 || need+=(mono-runtime)
# g++ and nlohmann-json for the Unreal plugin's engine-free C++17 core and its console tests
command -v g++ >/dev/null 2>&1 || need+=(g++)
[ -f /usr/include/nlohmann/json.hpp ] || need+=(nlohmann-json3-dev)
# PROJ's geoid grids (EGM96 and others) for converting orthometric heights
[ -f /usr/share/proj/egm96_15.gtx ] || need+=(proj-data)
# Redis and PostgreSQL: the tests start their own servers on loopback (tests/gt_services.py)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1 \
    || need+=(postgresql)
if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "system-deps: missing ${need[*]}; install them as root (apt-get install ${need[*]})." >&2
    echo "system-deps: tests that need them will be skipped." >&2
    exit 0
fi
echo "system-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null

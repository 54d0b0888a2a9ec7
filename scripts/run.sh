#!/usr/bin/env bash
# Set up the studio on a fresh machine and run it.
#   bash scripts/run.sh demo   set up, then run the demo (the main job)
#   bash scripts/run.sh test   set up, then run every test (and list the slowest ten)
#   bash scripts/run.sh setup  set up only
# Set-up is idempotent: system packages (Graphviz, Chromium) through apt-get when running as
# root, a virtual environment in .venv with the project and its test tools installed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VENV="${STUDIO_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

need_system_packages() {
    local missing=()
    command -v dot >/dev/null 2>&1 || missing+=(graphviz)
    if [ "${1:-}" = "test" ] && ! [ -x /usr/bin/chromium ]; then missing+=(chromium); fi
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        say "installing system packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "studio: missing system packages: ${missing[*]}" >&2
        echo "  install them first, e.g.: sudo apt-get install ${missing[*]}" >&2
        echo "  (or use conda: conda env create -f environment.yml)" >&2
        exit 2
    fi
}

setup() {
    need_system_packages "${1:-}"
    if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
        echo "studio: Python 3.10 or newer is needed (found $("$PY" --version 2>&1))" >&2
        exit 2
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating virtual environment in $VENV"
        "$PY" -m venv "$VENV"
    fi
    local stamp="$VENV/.studio-installed"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        say "installing the studio and its dependencies"
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -e ".[all,test]"
        touch "$stamp"
    fi
}

case "${1:-demo}" in
    setup)
        setup test
        ;;
    demo)
        shift || true
        setup demo
        exec "$VENV/bin/python" -m studio.demo "$@"
        ;;
    test)
        shift || true
        setup test
        # --durations=10: the slowest ten tests, to keep the suite's time in view
        exec "$VENV/bin/python" -m pytest --durations=10 "$@"
        ;;
    *)
        echo "usage: bash scripts/run.sh [demo|test|setup]" >&2
        exit 2
        ;;
esac

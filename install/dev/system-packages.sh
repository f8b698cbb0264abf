#!/usr/bin/env bash
# System packages for a development machine (Debian), shared by the Makefile (`make demo`, `make test`)
# and .ci/run. Installs what is missing when it can (root and apt-get); otherwise prints ONE line saying
# what to install, never a traceback.
#
#   install/dev/system-packages.sh demo   python3-venv required; Mono (the ESAPI stand-in) only when it
#                                         can be installed: without it the demo runs the RayStation half
#   install/dev/system-packages.sh test   python3-venv, mono-devel (ESAPI stand-in, Eclipse host) and
#                                         xvfb (the dialog tests' virtual display), all required
set -euo pipefail

want="${1:-test}"
case "$want" in demo|test) ;; *) echo "usage: $0 demo|test" >&2; exit 2 ;; esac

apt_updated=0
can_install() { [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; }
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    apt-get update -qq >/dev/null
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# need PACKAGE TEST REQUIRED: install PACKAGE unless TEST succeeds; REQUIRED=1 stops on failure.
need() {
  local package="$1" check="$2" required="$3" why="$4"
  if eval "$check" >/dev/null 2>&1; then
    return 0
  fi
  if can_install && apt_install "$package"; then
    echo "system-packages: installed $package ($why)."
    return 0
  fi
  if [ "$required" -eq 1 ]; then
    echo "system-packages: $package is missing and could not be installed here ($why): run 'sudo apt-get install -y $package', then re-run." >&2
    exit 1
  fi
  echo "system-packages: $package is missing and could not be installed ($why); continuing without it."
}

need python3-venv "python3 -c 'import venv, ensurepip'" 1 "the project's virtual environment"
if [ "$want" = "test" ]; then
  need mono-devel "command -v mcs" 1 "the ESAPI stand-in and the Eclipse host are built with Mono"
  need xvfb "command -v Xvfb" 1 "the dialog tests run on a virtual display"
else
  need mono-devel "command -v mcs" 0 "the Eclipse half of the demo needs Mono"
fi

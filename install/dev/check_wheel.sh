#!/usr/bin/env bash
# The product wheel, tested as a clinical install gets it (`make wheel-check`, part of `make test`):
# `pip wheel .` builds `reirrad` with no setuptools warning and without the TPS stand-ins; installed
# into a fresh virtual environment, `reirrad protocols` and `reirrad constraints` work, importing
# reirrad and reirrad_tps never imports tps_stubs, and a stand-in command ends with one line saying
# the stand-ins are not installed (exit 2), never a traceback.
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fail() { echo "wheel-check: FAILED: $*" >&2; exit 1; }

"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip wheel --no-deps -w "$work/dist" . >"$work/build.log" 2>&1 \
  || { cat "$work/build.log"; fail "pip wheel . did not build"; }
if grep -qiE "would be ignored|BuildBackendWarning|SetuptoolsDeprecationWarning" "$work/build.log"; then
  cat "$work/build.log"; fail "setuptools warned while building the wheel"
fi
wheel="$(ls "$work"/dist/reirrad-*.whl)"
if "$work/venv/bin/python" -m zipfile -l "$wheel" | grep -q "tps_stubs"; then
  fail "the product wheel contains tps_stubs"
fi
"$work/venv/bin/python" -m pip install --quiet "$wheel"
cd "$work"   # away from the clone: only the installed wheel is importable
"$work/venv/bin/python" - <<'PY'
import importlib.util, sys
import reirrad, reirrad.cli, reirrad.report, reirrad_tps, reirrad_tps.commands, reirrad_tps.evaluate  # noqa: E401,F401
assert "tps_stubs" not in sys.modules, "importing the product imported tps_stubs"
assert importlib.util.find_spec("tps_stubs") is None, "tps_stubs is importable from the wheel's install"
PY
"$work/venv/bin/reirrad" protocols >/dev/null || fail "reirrad protocols"
"$work/venv/bin/reirrad" constraints --prior small_bowel=45/25@730 --json "$work/c.json" >/dev/null \
  || fail "reirrad constraints"
"$work/venv/bin/python" - "$work/c.json" <<'PY' || fail "reirrad constraints: small bowel is not 28.08 Gy"
import json, sys
rows = json.load(open(sys.argv[1]))["oars"]
bowel = [r for r in rows if r["name"] == "small_bowel"][0]
assert round(bowel["allowed_physical_gy"], 2) == 28.08, bowel["allowed_physical_gy"]
PY
set +e
"$work/venv/bin/reirrad" demo >"$work/demo.out" 2>&1
code=$?
set -e
[ "$code" -eq 2 ] || { cat "$work/demo.out"; fail "reirrad demo without the stand-ins exited $code, not 2"; }
grep -q "stand-ins are not installed" "$work/demo.out" || { cat "$work/demo.out"; fail "no clear message"; }
if grep -q "Traceback" "$work/demo.out"; then cat "$work/demo.out"; fail "a traceback"; fi
echo "wheel-check: $(basename "$wheel") builds without warnings, holds no tps_stubs, runs reirrad constraints (small bowel 28.08 Gy) and refuses the stand-in demo in one line."

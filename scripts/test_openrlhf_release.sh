#!/usr/bin/env bash
# Run this project's OpenRLHF training tests against another OpenRLHF release (and the DeepSpeed it pins) on a CPU host,
# without touching .venv: a throwaway venv over a view of .venv's packages (symlinks) with openrlhf (and deepspeed)
# swapped for the release's. Usage: scripts/test_openrlhf_release.sh 0.11.0 [pytest args]. Needs `make install` and the
# package registry; about 5 minutes on 2 cores. See docs/install.md.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${1:?usage: $0 OPENRLHF_VERSION [pytest args]}
shift
TESTS=("$@")
[ ${#TESTS[@]} -gt 0 ] || TESTS=(tests/test_cli_train_apt.py tests/test_stat_sft.py -m "not slow")
VENV=${VENV:-.venv}  # the locked environment to copy
LOCKED=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
WORK=$(mktemp -d "${TMPDIR:-/tmp}/orw-openrlhf-$VERSION.XXXX")
python3 -m venv --without-pip "$WORK/venv"
PY="$WORK/venv/bin/python"
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check --python "$PY" install -q)
echo "test_openrlhf_release: downloading openrlhf==$VERSION"
"${PIP[@]}" --no-deps "openrlhf==$VERSION"
DEEPSPEED=$("$PY" -c "from importlib.metadata import requires; print(next(r for r in requires('openrlhf') if r.startswith('deepspeed')))")
LOCKED_DS="deepspeed==$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("deepspeed"))')"
mkdir "$WORK/view"
for entry in "$LOCKED"/*; do  # the locked packages, less openrlhf, this project, .pth files and another deepspeed
  case $(basename "$entry") in
    openrlhf|openrlhf-*|openrlhf_weakness*|__editable__*|*.pth) continue ;;
    deepspeed|deepspeed-*) [ "$DEEPSPEED" = "$LOCKED_DS" ] || continue ;;
  esac
  ln -s "$entry" "$WORK/view/"
done
echo "$WORK/view" > "$SITE/locked-stack.pth"
echo "$PWD" > "$SITE/openrlhf-weakness-checkout.pth"
if ! "$PY" -c "import deepspeed" 2>/dev/null; then
  echo "test_openrlhf_release: building $DEEPSPEED (DS_BUILD_OPS=0)"
  DS_BUILD_OPS=0 "${PIP[@]}" --no-deps --no-build-isolation "$DEEPSPEED"
fi
export TORCH_EXTENSIONS_DIR="$WORK/torch_extensions" OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} HF_HUB_OFFLINE=1
"$PY" -c "from importlib.metadata import version as v; import openrlhf
print('test_openrlhf_release: openrlhf', v('openrlhf'), 'from', openrlhf.__file__, '| deepspeed', v('deepspeed'),
      '| transformers', v('transformers'))"
"$PY" -m pytest -q -p no:cacheprovider "${TESTS[@]}"

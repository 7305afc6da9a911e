# Sourced by the example scripts: sets DQNLAB to the command that runs dqnlab. An explicit $DQNLAB
# wins; then `dqnlab` on PATH (an activated venv); then this clone's .venv from `make demo`.
if [[ -z "${DQNLAB:-}" ]]; then
  if command -v dqnlab >/dev/null; then
    DQNLAB=dqnlab
  else
    DQNLAB="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv/bin/dqnlab"
    if [[ ! -x "$DQNLAB" ]]; then
      echo "dqnlab: not on PATH and no $DQNLAB: run make demo (or source .venv/bin/activate) first" >&2
      exit 2
    fi
  fi
fi

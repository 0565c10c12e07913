#!/usr/bin/env bash
# Submit this project to Databricks with `mlflow run -b databricks`, from a clean clone of HEAD.
#
#   tools/databricks_run.sh -e train_xgboost --env-manager uv \
#     --experiment-name /Users/<you>/projects/tabular-training/train -P max_depth=4
#
# MLflow tars the whole project folder (all but mlruns/) and uploads it: run from the working
# tree and the tarball carries .venv, mlflow.db, mlartifacts and any uncommitted change, while
# the run is tagged with HEAD's commit. A fresh clone of HEAD carries exactly that commit.
# Credentials: DATABRICKS_HOST + DATABRICKS_TOKEN, or a ~/.databrickscfg profile.
# BACKEND_CONFIG overrides databricks/cluster.json; MLFLOW_TRACKING_URI defaults to databricks.
set -euo pipefail
project=$(cd "$(dirname "$0")/.." && pwd)
top=$(git -C "$project" rev-parse --show-toplevel)
subdir=$(git -C "$project" rev-parse --show-prefix)
if [ -n "$(git -C "$top" status --porcelain)" ]; then
  echo "error: $top has uncommitted changes; commit them first: the run would be tagged with" \
       "HEAD ($(git -C "$top" rev-parse --short HEAD)) but would not run them" >&2
  exit 2
fi
config=${BACKEND_CONFIG:-$project/databricks/cluster.json}
config=$(cd "$(dirname "$config")" && pwd)/$(basename "$config")
export MLFLOW_TRACKING_URI=${MLFLOW_TRACKING_URI:-databricks}
# Databricks refuses to create an experiment whose workspace folder is missing (a fresh
# workspace has no /Users/<you>/projects/<project>): create folder and experiment first.
experiment=""
previous=""
for arg in "$@"; do
  case "$arg" in --experiment-name=*) experiment=${arg#--experiment-name=} ;; esac
  [ "$previous" = "--experiment-name" ] && experiment=$arg
  previous=$arg
done
if [ -n "$experiment" ] && [[ "$MLFLOW_TRACKING_URI" == databricks* ]]; then
  PYTHONPATH="$project" python -c '
import sys
from common import tracking
from common.errors import UserInputError
try:
    tracking.ensure_experiment(sys.argv[1])
except UserInputError as exc:
    sys.exit(f"error: {exc}")
' "$experiment" || exit 2
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git clone --quiet --no-checkout "$top" "$scratch/repo"
git -C "$scratch/repo" checkout --quiet "$(git -C "$top" rev-parse HEAD)"
mlflow run "$scratch/repo/$subdir" -b databricks --backend-config "$config" "$@"

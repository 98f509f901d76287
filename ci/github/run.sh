#!/usr/bin/env bash
# The pipelinectl action's step (action.yml), kept in a file so it is tested as it runs.
#   PIPELINECTL_COMMAND=check   validate with workflow annotations on the files, then the plan
#                               (markdown) into the job summary
#   PIPELINECTL_COMMAND=deploy  deploy; its report into the job summary
# PIPELINECTL_PLATFORM_INPUT, when set, is the platform config. Exit code: pipelinectl's.
set -euo pipefail

summary=${GITHUB_STEP_SUMMARY:-/dev/null}
scratch=${RUNNER_TEMP:-${TMPDIR:-/tmp}}
if [ -n "${PIPELINECTL_PLATFORM_INPUT:-}" ]; then
  export PIPELINECTL_PLATFORM="$PIPELINECTL_PLATFORM_INPUT"
fi

case "${PIPELINECTL_COMMAND:-}" in
  check)
    pipelinectl validate --format github
    pipelinectl plan --format markdown --output "$scratch/pipelinectl-plan.md"
    cat "$scratch/pipelinectl-plan.md" >>"$summary"
    ;;
  deploy)
    status=0
    pipelinectl deploy 2>&1 | tee "$scratch/pipelinectl-deploy.log" || status=$?
    # The log in a fence longer than any run of tildes in it (a value cannot close it),
    # without pipelinectl's ::stop-commands:: lines (nothing else it prints starts with ::).
    longest=$({ grep -o '~*' "$scratch/pipelinectl-deploy.log" || true; } |
      awk '{ print length }' | sort -n | tail -1)
    fence=$(printf '%*s' "$(( ${longest:-0} > 7 ? longest + 1 : 8 ))" '' | tr ' ' '~')
    {
      echo "### pipelinectl deploy"
      echo
      echo "$fence"
      sed '/^::/d' "$scratch/pipelinectl-deploy.log"
      echo "$fence"
    } >>"$summary"
    exit "$status"
    ;;
  *)
    echo "::error title=pipelinectl::the action's command input must be check or deploy" >&2
    exit 2
    ;;
esac

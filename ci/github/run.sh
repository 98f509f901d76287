#!/usr/bin/env bash
# The pipelinectl action's step (action.yml), kept in a file so it is tested as it runs.
#   PIPELINECTL_COMMAND=check           validate with workflow annotations on the files, then
#                                       the plan (markdown) into the job summary
#   PIPELINECTL_COMMAND=deploy          deploy; its report into the job summary
#   PIPELINECTL_COMMAND=preview-deploy  preview deploy, preview delete, preview prune; each
#                      preview-delete   report into the job summary
#                      preview-prune
#   PIPELINECTL_COMMAND=gc              gc (a dry run): its table into the job summary and into
#                                       a file, the step's output `report` (for an artifact)
#   PIPELINECTL_COMMAND=gc-apply        gc --apply; its table into the job summary
#   PIPELINECTL_COMMAND=trigger         trigger --wait PIPELINECTL_PIPELINE_INPUT, a --param per
#                                       word of PIPELINECTL_PARAMS_INPUT (NAME=VALUE words
#                                       separated by whitespace, never evaluated), with
#                                       PIPELINECTL_LOGICAL_DATE_INPUT when set; its report
#                                       into the job summary
#   PIPELINECTL_COMMAND=health          status --check; its report into the job summary
# PIPELINECTL_PLATFORM_INPUT, when set, is the platform config; PIPELINECTL_MR_INPUT, when set,
# the pull request of preview-deploy and preview-delete. Exit code: pipelinectl's.
set -euo pipefail

summary=${GITHUB_STEP_SUMMARY:-/dev/null}
scratch=${RUNNER_TEMP:-${TMPDIR:-/tmp}}
if [ -n "${PIPELINECTL_PLATFORM_INPUT:-}" ]; then
  export PIPELINECTL_PLATFORM="$PIPELINECTL_PLATFORM_INPUT"
fi
mr=()
if [ -n "${PIPELINECTL_MR_INPUT:-}" ]; then
  mr=(--mr "$PIPELINECTL_MR_INPUT")
fi

# reported TITLE COMMAND...: pipelinectl COMMAND, its output also into the job summary under
# "### pipelinectl TITLE"; exits with its exit code.
reported() {
  local title=$1 status=0 log longest fence
  shift
  log="$scratch/pipelinectl-${title// /-}.log"
  pipelinectl "$@" 2>&1 | tee "$log" || status=$?
  # The log in a fence longer than any run of tildes in it (a value cannot close it),
  # without pipelinectl's ::stop-commands:: lines (nothing else it prints starts with ::).
  longest=$({ grep -o '~*' "$log" || true; } | awk '{ print length }' | sort -n | tail -1)
  fence=$(printf '%*s' "$(( ${longest:-0} > 7 ? longest + 1 : 8 ))" '' | tr ' ' '~')
  {
    echo "### pipelinectl $title"
    echo
    echo "$fence"
    sed '/^::/d' "$log"
    echo "$fence"
  } >>"$summary"
  exit "$status"
}

case "${PIPELINECTL_COMMAND:-}" in
  check)
    pipelinectl validate --format github
    pipelinectl plan --format markdown --output "$scratch/pipelinectl-plan.md"
    cat "$scratch/pipelinectl-plan.md" >>"$summary"
    ;;
  deploy)
    reported deploy deploy
    ;;
  preview-deploy)
    reported "preview deploy" preview deploy ${mr[@]+"${mr[@]}"}
    ;;
  preview-delete)
    reported "preview delete" preview delete ${mr[@]+"${mr[@]}"}
    ;;
  preview-prune)
    reported "preview prune" preview prune
    ;;
  gc)
    report="$scratch/pipelinectl-gc.txt"
    status=0
    (reported "gc dry run" gc) || status=$?
    sed '/^::/d' "$scratch/pipelinectl-gc-dry-run.log" >"$report"
    echo "report=$report" >>"${GITHUB_OUTPUT:-/dev/null}"
    exit "$status"
    ;;
  gc-apply)
    reported "gc --apply" gc --apply
    ;;
  trigger)
    if [ -z "${PIPELINECTL_PIPELINE_INPUT:-}" ]; then
      echo "::error title=pipelinectl::the trigger command needs the action's pipeline input" >&2
      exit 2
    fi
    run=(--wait)
    if [ -n "${PIPELINECTL_LOGICAL_DATE_INPUT:-}" ]; then
      run+=("--logical-date=$PIPELINECTL_LOGICAL_DATE_INPUT")
    fi
    # The params' words (read splits at spaces, tabs, newlines; it neither globs nor expands),
    # each one --param=WORD: a value starting with - stays a value.
    words=()
    IFS=$' \t\r\n' read -r -d '' -a words <<<"${PIPELINECTL_PARAMS_INPUT:-}" || true
    for word in ${words[@]+"${words[@]}"}; do
      run+=("--param=$word")
    done
    reported trigger trigger "${run[@]}" -- "$PIPELINECTL_PIPELINE_INPUT"
    ;;
  health)
    reported "status --check" status --check
    ;;
  *)
    echo "::error title=pipelinectl::the action's command input must be check, deploy," \
      "preview-deploy, preview-delete, preview-prune, gc, gc-apply, trigger or health" >&2
    exit 2
    ;;
esac

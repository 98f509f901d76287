"""Every name pipelinectl puts on the wire or on disk, in one place: labels, annotations,
environment variables, image labels and tags, state objects, output paths.

These are the contract with clusters, registries, Airflow and the files a deploy leaves
behind (docs/reference/labels.md): a renamed constant is a breaking change for every object
already deployed. Nothing here imports anything.
"""

from __future__ import annotations

from typing import Final

# -- ownership: what marks an object as pipelinectl's, and whose -------------------------------
MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGER: Final = "pipelinectl"
PIPELINE_LABEL: Final = "pipelinectl.io/pipeline"
TEAM_LABEL: Final = "pipelinectl.io/team"
TASK_LABEL: Final = "pipelinectl.io/task"
DAG_LABEL: Final = "pipelinectl.io/dag"  # the DAG ConfigMaps a dags-folder sidecar watches
GIT_SHA_ANNOTATION: Final = "pipelinectl.io/git-sha"  # the pipeline's revision
SPEC_DIGEST_ANNOTATION: Final = "pipelinectl.io/spec-digest"
# Labels and prefixes a pipeline's own metadata.labels may not set.
RESERVED_LABEL_KEYS: Final = (MANAGED_BY,)
RESERVED_LABEL_PREFIXES: Final = ("pipelinectl.io/",)

# -- the environment of every task ---------------------------------------------------------------
ENV_PREFIX: Final = "PIPELINECTL_"  # reserved: a pipeline's env may not use it
ENV_PIPELINE: Final = "PIPELINECTL_PIPELINE"
ENV_TEAM: Final = "PIPELINECTL_TEAM"
ENV_TASK: Final = "PIPELINECTL_TASK"
ENV_RUN_ID: Final = "PIPELINECTL_RUN_ID"
ENV_REVISION: Final = "PIPELINECTL_REVISION"  # the last commit that changed the pipeline
TASK_ENV: Final = (ENV_PIPELINE, ENV_TEAM, ENV_TASK, ENV_RUN_ID, ENV_REVISION)
ENV_PARAM_PREFIX: Final = "PIPELINECTL_PARAM_"  # + a param's name in capitals: its value
# The run's logical date (ISO 8601, UTC): set by trigger, Airflow and `run --logical-date`;
# a CronJob's scheduled run has none (its tick is not known when the Job is rendered).
ENV_LOGICAL_DATE: Final = "PIPELINECTL_LOGICAL_DATE"
WORKSPACE: Final = "/workspace"  # the folder the tasks of one run share

# -- runs started by hand (`pipelinectl trigger`) -----------------------------------------------
TRIGGER_LABEL: Final = "pipelinectl.io/trigger"  # on a Job trigger made: "manual", or "backfill"
TRIGGER_MANUAL: Final = "manual"
TRIGGERED_BY_ANNOTATION: Final = "pipelinectl.io/triggered-by"  # who: CI user or local user
# What Kubernetes itself puts on a Job made from a CronJob by hand (kubectl create job --from).
INSTANTIATE_ANNOTATION: Final = "cronjob.kubernetes.io/instantiate"
# -- backfills (pipeline.yaml `backfills:`): re-runs of past ticks, started by a deploy ---------
TRIGGER_BACKFILL: Final = "backfill"  # the trigger label of a backfill's Job (or local run)
BACKFILL_LABEL: Final = "pipelinectl.io/backfill"  # its id
BACKFILL_JOB_INFIX: Final = "-bf-"  # <pipeline>-bf-<id>: the Indexed Job of a backfill
# On a backfill's Job: its logical dates (ISO 8601, UTC), comma-separated, in index order.
BACKFILL_DATES_ANNOTATION: Final = "pipelinectl.io/backfill-dates"
# On a CronJob: the backfills its deploy starts ({id: [runs, first, last, max_parallel]}),
# so that `plan` tells them from a rendering alone.
BACKFILLS_ANNOTATION: Final = "pipelinectl.io/backfills"
# Every task of a backfill's run: the dates (as the annotation), and Kubernetes' own index of
# the run (an Indexed Job sets it): the run's logical date is dates[index].
ENV_BACKFILL_DATES: Final = "PIPELINECTL_BACKFILL_DATES"
ENV_COMPLETION_INDEX: Final = "JOB_COMPLETION_INDEX"
TRIGGERS_DIR: Final = "triggers"  # local platform: <kubernetes.directory>/<namespace>/triggers

# -- runs: what Kubernetes and pipelinectl put on a pipeline's Jobs -----------------------------
# The CronJob controller's annotation of the tick a Job was made for (Kubernetes 1.28+).
CRONJOB_SCHEDULED_ANNOTATION: Final = "batch.kubernetes.io/cronjob-scheduled-timestamp"
JOB_NAME_LABELS: Final = ("batch.kubernetes.io/job-name", "job-name")  # on a Job's Pods

# -- the state object of a pipeline (a ConfigMap in its namespace) -----------------------------
STATE_LABEL: Final = "pipelinectl.io/state"
ENVIRONMENT_LABEL: Final = "pipelinectl.io/environment"
PREVIEW_LABEL: Final = "pipelinectl.io/preview"  # the merge request a preview object is of
STATE_NAME_PREFIX: Final = "pipelinectl-state-"
STATE_DATA_KEY: Final = "state.json"
# An inventory entry for a delivered DAG file (not a Kubernetes object).
DAG_FILE_API: Final = "pipelinectl.io/v1"
DAG_FILE_KIND: Final = "DAGFile"

# -- the deploy lease of a repository and environment (a ConfigMap in each team namespace) -----
LEASE_NAME_PREFIX: Final = "pipelinectl-deploy-"
LEASE_LABEL: Final = "pipelinectl.io/deploy-lease"
LEASE_DATA_KEY: Final = "lease.json"

# -- server-side apply ---------------------------------------------------------------------------
FIELD_MANAGER: Final = "pipelinectl"
APPLIED_HASH_ANNOTATION: Final = "pipelinectl.io/applied-hash"

# -- images: labels and tags ---------------------------------------------------------------------
OCI_LABEL_PREFIX: Final = "org.opencontainers.image."
IMAGE_PIPELINE_LABEL: Final = "io.pipelinectl.pipeline"
IMAGE_TEAM_LABEL: Final = "io.pipelinectl.team"
IMAGE_INPUTS_LABEL: Final = "io.pipelinectl.inputs"
IMAGE_CONTENT_LABEL: Final = "io.pipelinectl.content-digest"
CONTENT_TAG_PREFIX: Final = "content-"  # content-<sha256 of the inputs>
GIT_TAG_PREFIX: Final = "git-"  # git-<commit>

# -- files and folders ---------------------------------------------------------------------------
PIPELINE_FILE: Final = "pipeline.yaml"
OUTPUT_DIR: Final = ".pipelinectl"  # pipelinectl's own folder at the repository root
RENDER_DIR: Final = f"{OUTPUT_DIR}/render"  # `render` without -o
RUNS_DIR: Final = f"{OUTPUT_DIR}/runs"  # `run`: <pipeline>/workspace below it
SCHEMA_COPY: Final = f"{OUTPUT_DIR}/pipeline.schema.json"  # `init`: the editor's schema
RENDERED_KUBERNETES_DIR: Final = "kubernetes"  # render: kubernetes/<namespace>/<name>.yaml
RENDERED_AIRFLOW_DIR: Final = "airflow"  # render: airflow/<team>/<team>__<name>.py

# -- report formats of `validate` (the CI systems read them) ----------------------------------
REPORT_FORMATS: Final = ("text", "json", "github", "gitlab")

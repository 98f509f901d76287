"""The render wing: CronJobs, DAG files, render and plan wording."""

"""Running a pipeline's tasks on this machine, in docker, as they run in production."""

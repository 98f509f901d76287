# Installs an R pipeline's packages into the site library, from deps/renv.lock (renv::restore,
# exact versions) or deps/DESCRIPTION (Depends/Imports/LinkingTo not already installed, e.g.
# by system_packages r-cran-*). Fails the build when a package is still missing afterwards:
# install.packages() only warns.
args <- commandArgs(trailingOnly = TRUE)
deps <- args[[1]]
library <- .libPaths()[[1]]
lockfile <- file.path(deps, "renv.lock")
description <- file.path(deps, "DESCRIPTION")
cores <- max(1L, parallel::detectCores(), na.rm = TRUE)
repos <- getOption("repos")
if (is.null(repos) || identical(unname(repos[["CRAN"]]), "@CRAN@")) {
  repos <- c(CRAN = "https://cloud.r-project.org")
}

missing_packages <- function(wanted) {
  setdiff(wanted, rownames(installed.packages()))
}

if (file.exists(lockfile)) {
  if (length(missing_packages("renv")) > 0) {
    install.packages("renv", lib = library, repos = repos)
  }
  renv::restore(lockfile = lockfile, library = library, prompt = FALSE, clean = FALSE)
  wanted <- names(renv::lockfile_read(lockfile)$Packages)
} else if (file.exists(description)) {
  fields <- read.dcf(description, fields = c("Depends", "Imports", "LinkingTo"))
  entries <- unlist(strsplit(fields[!is.na(fields)], ","))
  names <- trimws(sub("\\(.*$", "", trimws(entries)))
  base <- rownames(installed.packages(priority = "base"))
  wanted <- setdiff(unique(names[nzchar(names)]), c("R", base))
  todo <- missing_packages(wanted)
  if (length(todo) > 0) {
    install.packages(todo, lib = library, repos = repos, Ncpus = cores)
  }
} else {
  wanted <- character()
}

still_missing <- missing_packages(wanted)
if (length(still_missing) > 0) {
  stop("R packages not installed: ", paste(still_missing, collapse = ", "), call. = FALSE)
}
cat("R packages ready:", length(wanted), "\n")

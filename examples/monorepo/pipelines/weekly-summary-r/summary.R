# summary: weekly test positivity per lab from data/tests.csv (SYNTHETIC data) shipped beside
# this script; writes <WORKSPACE>/weekly_summary.csv. Base R only.
workspace <- Sys.getenv("WORKSPACE", "/workspace")
args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", grep("^--file=", args, value = TRUE))
here <- if (length(script) == 1L) dirname(normalizePath(script)) else getwd()

tests <- utils::read.csv(file.path(here, "data", "tests.csv"), stringsAsFactors = FALSE)
if (any(tests$positive > tests$tests)) stop("tests.csv: more positives than tests")

weekly <- stats::aggregate(cbind(tests, positive) ~ week_start + lab, data = tests, FUN = sum)
weekly$positivity_pct <- round(100 * weekly$positive / weekly$tests, 1)
weekly <- weekly[order(weekly$week_start, weekly$lab), ]

dir.create(workspace, showWarnings = FALSE, recursive = TRUE)
out <- file.path(workspace, "weekly_summary.csv")
utils::write.csv(weekly, out, row.names = FALSE)

latest <- weekly[weekly$week_start == max(weekly$week_start), ]
cat(sprintf("summary: %d labs, %d weeks, %d tests, %.1f%% positive overall -> %s\n",
            length(unique(weekly$lab)), length(unique(weekly$week_start)), sum(weekly$tests),
            100 * sum(weekly$positive) / sum(weekly$tests), out))
cat(sprintf("summary: week of %s: %s\n", latest$week_start[1],
            paste0(latest$lab, " ", latest$positivity_pct, "%", collapse = ", ")))

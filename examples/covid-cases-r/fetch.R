# fetch: "fetch" the shipped line list data/cases.csv into the shared workspace.
# The data is SYNTHETIC (generated, no real patients). Base R only.
# A real pipeline would download from a surveillance system here.
workspace <- Sys.getenv("WORKSPACE", "/workspace")

# find data/ beside this script, whatever the working directory
args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", grep("^--file=", args, value = TRUE))
here <- if (length(script) == 1L) dirname(normalizePath(script)) else getwd()
src <- file.path(here, "data", "cases.csv")

cases <- utils::read.csv(src, stringsAsFactors = FALSE)
required <- c("onset_date", "region", "age_group", "confirmed")
missing <- setdiff(required, names(cases))
if (length(missing) > 0L) {
  stop("cases.csv lacks column(s): ", paste(missing, collapse = ", "))
}
dates <- as.Date(cases$onset_date, format = "%Y-%m-%d")
if (anyNA(dates)) stop("cases.csv has onset_date values that are not ISO dates")
if (!all(cases$confirmed %in% c(0L, 1L))) stop("cases.csv: confirmed must be 0 or 1")

dir.create(workspace, showWarnings = FALSE, recursive = TRUE)
out <- file.path(workspace, "cases.csv")
utils::write.csv(cases[required], out, row.names = FALSE)
cat(sprintf("fetch: %d rows, onset %s to %s -> %s\n",
            nrow(cases), format(min(dates)), format(max(dates)), out))

# aggregate: confirmed cases by region and ISO week (e.g. 2026-W02).
# Reads <WORKSPACE>/cases.csv from fetch, writes <WORKSPACE>/weekly_by_region.csv. Base R only.
workspace <- Sys.getenv("WORKSPACE", "/workspace")
cases <- utils::read.csv(file.path(workspace, "cases.csv"), stringsAsFactors = FALSE)

cases$iso_week <- strftime(as.Date(cases$onset_date), "%G-W%V")
# xtabs sums `confirmed` over every region x week seen in the data (0 where none confirmed)
tab <- stats::xtabs(confirmed ~ region + iso_week, data = cases)
weekly <- as.data.frame(tab, stringsAsFactors = FALSE, responseName = "confirmed")
weekly <- weekly[order(weekly$iso_week, weekly$region), c("iso_week", "region", "confirmed")]
weekly$confirmed <- as.integer(weekly$confirmed)

out <- file.path(workspace, "weekly_by_region.csv")
utils::write.csv(weekly, out, row.names = FALSE)
cat(sprintf("aggregate: %d region-week rows (%d regions x %d weeks), %d confirmed -> %s\n",
            nrow(weekly), length(unique(weekly$region)), length(unique(weekly$iso_week)),
            sum(weekly$confirmed), out))

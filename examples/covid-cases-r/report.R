# report: an HTML table of weekly confirmed cases (weeks x regions) with totals.
# Reads <WORKSPACE>/weekly_by_region.csv, writes <WORKSPACE>/report.html. Base R only.
workspace <- Sys.getenv("WORKSPACE", "/workspace")
weekly <- utils::read.csv(file.path(workspace, "weekly_by_region.csv"), stringsAsFactors = FALSE)

wide <- stats::xtabs(confirmed ~ iso_week + region, data = weekly)
regions <- colnames(wide)
weeks <- rownames(wide)
total <- sum(wide)

esc <- function(x) {
  x <- gsub("&", "&amp;", x, fixed = TRUE)
  x <- gsub("<", "&lt;", x, fixed = TRUE)
  gsub(">", "&gt;", x, fixed = TRUE)
}
cells <- function(tag, values) paste0("<", tag, ">", esc(values), "</", tag, ">", collapse = "")

rows <- vapply(weeks, function(w) {
  paste0("<tr>", cells("th", w), cells("td", c(wide[w, ], sum(wide[w, ]))), "</tr>")
}, character(1))
html <- c(
  "<!DOCTYPE html>",
  "<html><head><meta charset=\"utf-8\"><title>Confirmed cases by region and week</title>",
  "<style>table{border-collapse:collapse}th,td{border:1px solid #999;padding:2px 8px}td{text-align:right}</style>",
  "</head><body>",
  "<h1>Confirmed cases by region and ISO week</h1>",
  "<p>Synthetic example data.</p>",
  "<table>",
  paste0("<tr>", cells("th", c("Week", regions, "Total")), "</tr>"),
  rows,
  paste0("<tr>", cells("th", "Total"), cells("td", c(colSums(wide), total)), "</tr>"),
  "</table>",
  sprintf("<p>Total: %d confirmed cases in %d regions over %d weeks (%s to %s).</p>",
          as.integer(total), length(regions), length(weeks), weeks[1], weeks[length(weeks)]),
  sprintf("<p>Generated %s</p>", esc(format(Sys.time(), "%Y-%m-%d %H:%M %Z"))),
  "</body></html>"
)
out <- file.path(workspace, "report.html")
writeLines(html, out)
cat(sprintf("report: %d regions, %d weeks, %d confirmed cases\n",
            length(regions), length(weeks), as.integer(total)))

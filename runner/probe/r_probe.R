# What R sees of the cell's Keras, asked through reticulate in this one fresh R process (probe.py starts one
# per scenario, with a clean HOME and no KERAS_BACKEND in the environment).
#
#   Rscript r_probe.R SCENARIO_ID BACKEND PYTHON
#
# BACKEND "" leaves KERAS_BACKEND unset; otherwise it is set from R with Sys.setenv before Python starts,
# as an R user would. Records R's and reticulate's versions, the Python reticulate bound to, what
# keras$backend$backend() returns (and keras$config$backend() where Keras has it), or the exact R/Python
# error; which of the R packages keras / keras3 are installed, and what their own functions return where
# they are. Prints one JSON line after the marker the Python probes use (common.py). Nothing here knows
# what the answer should be.

marker <- "@@KERAS_MATRIX_RESULT@@"
args <- commandArgs(trailingOnly = TRUE)
scenario <- if (length(args) >= 1) args[[1]] else "r-default"
backend <- if (length(args) >= 2) args[[2]] else ""
python <- if (length(args) >= 3) args[[3]] else ""

error_info <- function(e, stage) {
  list(type = paste(class(e), collapse = "/"), message = substr(conditionMessage(e), 1, 4000), stage = stage)
}

out <- list(id = scenario, r_version = paste(R.version$major, R.version$minor, sep = "."))
if (nzchar(backend)) {
  Sys.setenv(KERAS_BACKEND = backend)
  out$env <- list(KERAS_BACKEND = backend)
} else {
  out$env <- structure(list(), names = character(0))
}

installed <- function(pkg) {
  if (requireNamespace(pkg, quietly = TRUE)) as.character(utils::packageVersion(pkg)) else NA_character_
}
out$r_packages <- list(reticulate = installed("reticulate"), jsonlite = installed("jsonlite"),
                       keras = installed("keras"), keras3 = installed("keras3"))

if (is.na(out$r_packages$jsonlite)) {
  # No JSON writer: say so in JSON written by hand (the message is a constant, nothing to escape).
  cat(marker, '{"id": "', scenario, '", "error": {"type": "r", "stage": "jsonlite", ',
      '"message": "the R package jsonlite is not installed"}}\n', sep = "")
  quit(status = 0)
}

stage <- "use_python"
result <- tryCatch({
  if (is.na(out$r_packages$reticulate)) stop("the R package reticulate is not installed")
  if (nzchar(python)) reticulate::use_python(python, required = TRUE)
  stage <- "py_config"
  config <- reticulate::py_config()
  out$python <- config$python
  out$python_version <- as.character(config$version)
  stage <- "import"
  keras <- reticulate::import("keras")
  out$keras_version <- as.character(keras$`__version__`)
  stage <- "keras$backend$backend()"
  out$backend <- as.character(keras$backend$backend())
  out$backend_function <- "keras$backend$backend()"
  if (reticulate::py_has_attr(keras, "config") && reticulate::py_has_attr(keras$config, "backend")) {
    stage <- "keras$config$backend()"
    out$config_backend <- as.character(keras$config$backend())
  }
  NULL
}, error = function(e) error_info(e, stage))
if (!is.null(result)) out$error <- result

# The R packages' own functions, where they are installed (CRAN): what R users call.
calls <- list()
if (!is.na(out$r_packages$keras3)) {
  calls[["keras3::config_backend()"]] <- tryCatch(
    list(value = as.character(keras3::config_backend())),
    error = function(e) list(error = error_info(e, "keras3::config_backend()")))
}
if (!is.na(out$r_packages$keras)) {
  calls[["keras::k_backend()"]] <- tryCatch(
    list(value = as.character(keras::k_backend())),
    error = function(e) list(error = error_info(e, "keras::k_backend()")))
}
out$r_functions <- if (length(calls)) calls else structure(list(), names = character(0))

cat(marker, as.character(jsonlite::toJSON(out, auto_unbox = TRUE, null = "null", na = "null")), "\n", sep = "")

"""Stage 1, load and plan: the YAML loader, era data, release ranges, validation, expansion into cells,
selection and shards."""

"""The results contract on disk: write a run as each cell ends, read it back (schema-checked), merge runs."""

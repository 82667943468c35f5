"""The vocabulary: result records, statuses and outcomes, statistics. Plain data and pure functions, no I/O."""

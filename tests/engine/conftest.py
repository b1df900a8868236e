"""The proof plan under plan/ runs only through `drimcheck run` (its own catalog), not as project tests."""

collect_ignore = ["plan"]

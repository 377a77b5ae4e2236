"""Exit codes, one table for the CLI, the Action and the docs."""

EXIT_PASS = 0  # everything checked; no finding at or above the fail level
EXIT_FINDINGS = 1  # at least one unwaived finding at or above the fail level
EXIT_INPUT_ERROR = 2  # usage error, or a manifest/policy/output that cannot be read or written
EXIT_NOTHING_CHECKED = 3  # nothing was checked (e.g. `scan` found no files): a gate that saw nothing fails
EXIT_INTERRUPTED = 130  # stopped by SIGINT (Ctrl-C): no report was half-written (128 + SIGINT)
EXIT_TERMINATED = 143  # stopped by SIGTERM (a CI job cancelled): no report was half-written (128 + SIGTERM)

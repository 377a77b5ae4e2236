"""The runtime that loads the models: its dependencies (found in artifacts and in services' lock files) and the
known vulnerabilities an offline OSV snapshot lists for them."""

"""The workflow runtime: definitions, the step engine, retries and dead letters."""

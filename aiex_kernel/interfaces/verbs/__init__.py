"""Command definitions, one module per topic; each registers into the command registry."""

"""aiex as an MCP server: ``tools`` (each tool a registry command), ``http`` (streamable HTTP on a loopback
address, with a token and an Origin check) and ``command`` (``aiex serve mcp``, registered in the one
registry). The ``mcp`` SDK is imported only when a server starts."""

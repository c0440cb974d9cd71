"""Token sources: one module per way of getting a token, each with the ``TokenSource`` interface."""

"""Token sources: one module per way of getting a token, each with the ``TokenSource`` interface
(``_base.py``). Internal: the provider picks them (``tokens/_selection.py``) from the connection string."""

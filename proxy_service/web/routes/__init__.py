"""Console pages, one module per area; each route declares the roles allowed in (security.allow)."""

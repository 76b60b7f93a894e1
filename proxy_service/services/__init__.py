"""Service functions: each one use case, one transaction, an audit event per change."""

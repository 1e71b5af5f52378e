"""The product-wide audit log: sign-ins, permission changes, rule changes, assignments, deletions."""

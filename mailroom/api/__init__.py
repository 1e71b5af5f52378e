"""The reply function's HTTP API and agent UI (Powertools event handler, Jinja2, htmx)."""

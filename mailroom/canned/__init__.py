"""Canned responses: Jinja2 templates rendered in a sandboxed environment."""

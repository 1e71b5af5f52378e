"""Routing: rules, tags, teams, SLA due times and assignment for new inbound messages."""

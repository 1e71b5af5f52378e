"""Outbound mail: composing MIME and handing it to SES (or the sandbox's outbox directory)."""

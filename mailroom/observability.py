"""One place for Powertools Logger, Tracer and Metrics.

Every module logs through ``logger`` with keyword fields (``logger.info("stored", mailbox=...)``), so
CloudWatch Logs Insights can filter on them. The service name comes from ``POWERTOOLS_SERVICE_NAME``
(each function sets its own); tracing is off in the sandbox (``POWERTOOLS_TRACE_DISABLED``).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

NAMESPACE = "Mailroom"

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace=NAMESPACE)

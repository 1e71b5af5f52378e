"""Team metrics: definitions (``model``), rollups in the table (``rollups``), the report
(``report``), CSV export (``export``) and SLA breach warnings (``warnings``). See docs/metrics.md."""

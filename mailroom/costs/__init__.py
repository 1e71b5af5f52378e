"""Per-use cost (docs/costs.md): every invocation's usage, attributed and recorded as quantities,
priced at report time.

* :mod:`~mailroom.costs.quantities`: the quantities recorded (GB-seconds, requests, units, bytes).
* :mod:`~mailroom.costs.metering`: the handler decorator that meters an invocation and records it.
* :mod:`~mailroom.costs.recorder`: the few atomic counter updates per invocation.
* :mod:`~mailroom.costs.prices` / :mod:`~mailroom.costs.price_store`: the versioned price table.
* :mod:`~mailroom.costs.report`: quantities to money, per day and per dimension; forecast.
* :mod:`~mailroom.costs.budget`: the monthly budget the forecast is held against.
* :mod:`~mailroom.costs.explorer`: the Cost Explorer comparison (AWS only).
* :mod:`~mailroom.costs.csv_export`: spreadsheet-safe CSV.
"""

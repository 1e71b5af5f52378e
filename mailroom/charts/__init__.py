"""Charts rendered on the server as SVG: no script, so the pages keep their strict CSP."""

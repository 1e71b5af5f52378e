"""Find elements in (sanitized) HTML by their character offsets, to rewrite them in place.

``html.parser`` reports positions as (line, column); :class:`OffsetParser` turns them into offsets
into the original string, so a caller can splice replacements without re-serializing everything
else (which would change the markup the sanitizer produced).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser


class OffsetParser(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=False)
        self._line_starts = [0] + [match.end() for match in re.finditer("\n", html)]

    def char_offset(self) -> int:
        """Where the construct being handled starts in the original string."""
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

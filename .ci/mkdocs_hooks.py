"""mkdocs hook: drop the hidden `<!-- docs-test: ... -->` glue (tests/test_docs_examples.py) from the pages.

HTML comments render nothing anyway; this also keeps the test glue out of the published HTML source.
"""

from __future__ import annotations

import re
from typing import Any

DIRECTIVE = re.compile(r"<!--\s*docs-test:.*?-->\n?", re.S)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return DIRECTIVE.sub("", markdown)

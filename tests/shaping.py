"""Hindi and Marathi branding needs Pillow's raqm layout, which loads the system's libfribidi0.

``.ci/run`` installs it, and there (CI set) a missing one fails the tests loudly; on a machine
without it the README's test command skips them rather than failing on a system package.
"""

from __future__ import annotations

import os

import pytest

from producers.branding.render import shaping_available

needs_shaping = pytest.mark.skipif(
    not shaping_available() and not os.environ.get("CI"),
    reason="Devanagari shaping needs libfribidi0 (apt-get install libfribidi0; .ci/run does)")

"""The README's decoding snippet reads dawn's values with fastavro and the .avsc files alone.

The snippet runs in a separate interpreter, in a folder holding only copies of the .avsc files, and
proves it imported nothing of this project: what the data team gets is what they can use.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from avro_strategies import records
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.catalogue import ALL_TOPICS
from schemas.codec import Codec
from schemas.registry import AVSC_DIR, all_record_types, raw_schema

README = Path(__file__).resolve().parent.parent / "README.md"

DRIVER = """
import glob, json, sys
schemas = load_schemas(glob.glob("**/*.avsc", recursive=True))
records = [decode(bytes.fromhex(value), schemas) for value in json.load(sys.stdin)]
ours = sorted({m.split(".")[0] for m in sys.modules} & {"dawn", "schemas"})
print(json.dumps({"records": [json.dumps(r, default=str, sort_keys=True) for r in records],
                  "project_modules": ours}))
"""


def readme_snippet() -> str:
    section = README.read_text(encoding="utf-8").split("## For the data team", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "README's data-team section lost its python snippet"
    return match.group(1)


def _sample_records() -> list[tuple[str, dict[str, Any]]]:
    """A few generated records of every type: Devanagari text, maps, unions, logical types."""
    out: list[tuple[str, dict[str, Any]]] = []

    @settings(max_examples=4, deadline=None, database=None)
    @given(data=st.data())
    def draw(data: st.DataObject) -> None:
        for record_type in all_record_types():
            out.append((record_type, data.draw(records(raw_schema(record_type)))))

    draw()
    return out


def test_readme_snippet_decodes_every_record_type(tmp_path: Path) -> None:
    for avsc in AVSC_DIR.glob("*.avsc"):
        shutil.copy(avsc, tmp_path / avsc.name)
    codec = Codec()
    topics = {t.value_schema: t.name for t in ALL_TOPICS}
    sample = _sample_records()
    values = [codec.encode(topics[record_type], record).hex() for record_type, record in sample]
    result = subprocess.run(
        [sys.executable, "-I", "-c", readme_snippet() + DRIVER],
        input=json.dumps(values), capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["project_modules"] == []
    assert out["records"] == [json.dumps(r, default=str, sort_keys=True) for _, r in sample]

"""`claire schema check --schemas DIR` judges the files `claire schema export` writes there
(`*.schema.json`), not whatever else the directory holds (it reported every JSON file under
it, e.g. thousands for a shared directory)."""

from __future__ import annotations

import shutil
from pathlib import Path

from claire.audit.schema_check import COMMITTED, check_schemas


def test_other_files_beside_the_schemas_are_not_judged(tmp_path: Path) -> None:
    copy = tmp_path / "schemas"
    shutil.copytree(COMMITTED, copy)
    (copy / "notes.json").write_text("{}")
    (copy / "versions" / "alert" / "metadata.json").write_text("{}")
    assert check_schemas(copy).problems == []
    # A schema file the code no longer has is still named.
    (copy / "versions" / "alert" / "v9.schema.json").write_text("{}")
    assert [p.file for p in check_schemas(copy).problems] == ["versions/alert/v9.schema.json"]

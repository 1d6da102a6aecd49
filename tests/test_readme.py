"""The README must stay true to the code: every setting has a row with its real default."""

from __future__ import annotations

import re

from service.config import Settings
from tests.conftest import ROOT


def test_every_setting_has_a_readme_row_with_its_default():
    readme = (ROOT / "README.md").read_text()
    cells = re.findall(r"^\| `(MOTIVNET_[A-Z_]+)` \| ([^|]*?) \|", readme, re.MULTILINE)
    rows = {variable: default.strip("`") for variable, default in cells}
    for name, field in Settings.model_fields.items():
        variable = f"MOTIVNET_{name.upper()}"
        assert variable in rows, f"README has no row for {variable}"
        if name == "model_store":
            continue
        default = field.default
        shown = str(default).lower() if isinstance(default, bool) else str(default) or "empty"
        assert rows[variable] in (shown, shown.removesuffix(".0")), (
            f"{variable}: README says {rows[variable]}, code {shown}"
        )
    assert set(rows) == {f"MOTIVNET_{name.upper()}" for name in Settings.model_fields}

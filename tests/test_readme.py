"""The README and the docs pages it sends readers to stay true to the code: every setting has a row with its
real default in docs/configuration.md, every error code in docs/api.md is asserted through HTTP."""

from __future__ import annotations

import re

from motivnet_serve.settings import Settings
from tests.conftest import ROOT


def test_every_setting_has_a_configuration_row_with_its_default():
    page = (ROOT / "docs" / "configuration.md").read_text()
    cells = re.findall(r"^\| `(MOTIVNET_[A-Z0-9_]+)` \| ([^|]*?) \|", page, re.MULTILINE)
    rows = {variable: default.strip("`") for variable, default in cells}
    for name, field in Settings.model_fields.items():
        variable = f"MOTIVNET_{name.upper()}"
        assert variable in rows, f"docs/configuration.md has no row for {variable}"
        if name == "model_store":
            continue
        default = field.default
        shown = str(default).lower() if isinstance(default, bool) else str(default) or "empty"
        assert rows[variable] in (shown, shown.removesuffix(".0")), (
            f"{variable}: docs/configuration.md says {rows[variable]}, code {shown}"
        )
    assert set(rows) == {f"MOTIVNET_{name.upper()}" for name in Settings.model_fields}


def test_every_error_row_is_tested_through_http():
    """Each code in docs/api.md's error table is asserted on a real answer by some HTTP-level test."""
    page = (ROOT / "docs" / "api.md").read_text()
    table = page.split("## Errors", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| (\d{3}) \| `([a-z_]+)` \|", table, re.MULTILINE)
    assert len(rows) >= 10, "the error table moved; update this test"
    sources = [path.read_text() for path in (ROOT / "tests" / "router").rglob("test_*.py")]
    for status, code in rows:
        asserted = [text for text in sources if re.search(rf'b?"{code}"', text) and re.search(rf"\b{status}\b", text)]
        assert asserted, f"no HTTP test asserts {status} {code}"

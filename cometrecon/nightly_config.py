"""The nightly job's settings: thresholds and the defaults of the day's window.

Read from the `[nightly]` table of a TOML file (`--config`, else `$COMETRECON_CONFIG`,
else `cometrecon.toml` in the project); every key is optional and documented in that
file. Money thresholds are decimals, never floats.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

from cometrecon.paths import project_dir


@dataclass(frozen=True)
class NightlyConfig:
    # alert when the day's |billed − forecast| exceeds BOTH of these
    variance_abs_usd: Decimal = Decimal("25.00")
    variance_percent: Decimal = Decimal("5")
    buffer_minutes: int = 60
    finance_timezone: str = "UTC"
    owner: str = "finops-oncall"
    finance_reviewer: str = "finance-reviewer"
    provider: str = "CometAPI"

    def is_alert(self, forecast: Decimal, billed: Decimal) -> bool:
        variance = abs(billed - forecast)
        if variance <= self.variance_abs_usd:
            return False
        if forecast == 0:
            return True
        return variance * 100 > abs(forecast) * self.variance_percent


def config_path(explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    configured = os.environ.get("COMETRECON_CONFIG")
    if configured:
        return Path(configured)
    default = project_dir() / "cometrecon.toml"
    return default if default.exists() else None


def load_config(explicit: str | None = None) -> NightlyConfig:
    path = config_path(explicit)
    if path is None:
        return NightlyConfig()
    if not path.exists():
        raise FileNotFoundError(f"config file not found: {path}")
    table: dict[str, Any] = tomllib.loads(path.read_text()).get("nightly", {})
    known = {f.name: f for f in fields(NightlyConfig)}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ValueError(f"{path}: unknown [nightly] keys: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, value in table.items():
        default = getattr(NightlyConfig, name)
        if isinstance(default, Decimal):
            if isinstance(value, float):
                raise ValueError(f"{path}: {name} must be a string or an integer (money is exact)")
            values[name] = Decimal(str(value))
        elif isinstance(default, int):
            values[name] = int(value)
        else:
            values[name] = str(value)
    return NightlyConfig(**values)

"""Reading the tier rules file (I/O lives here, not in `scoring/`)."""
from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from scoring.config import ConfigError, ScoringConfig, parse_config


def load_scoring_config(path: str = "") -> ScoringConfig:
    """The config at `path`, or the shipped default; ConfigError says what is wrong."""
    if path:
        source = Path(path)
        if not source.is_file():
            raise ConfigError(f"TIERBOT_TIERS_PATH points at {path}, which is not a file")
        text, name = source.read_bytes(), str(source)
    else:
        text, name = resources.files("scoring").joinpath("tiers.toml").read_bytes(), "tiers.toml"
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name} is not valid TOML: {exc}") from None
    return parse_config(data, name)

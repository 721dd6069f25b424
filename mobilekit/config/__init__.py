"""mobilekit.toml: schema, loading and validation."""

from mobilekit.config.loader import CONFIG_FILE_NAME, build_config, load_config
from mobilekit.config.schema import Config

__all__ = ["CONFIG_FILE_NAME", "Config", "build_config", "load_config"]

"""Jinja environments over the versioned templates/ folder, strict about undefined names."""

from __future__ import annotations

from pathlib import Path

TEMPLATES_ROOT = Path(__file__).resolve().parent / "templates"


def environment(kind: str, *, autoescape: bool, filters: dict | None = None):
    """The one Jinja environment mobilekit renders with (report, Android, iOS), over ``templates/<kind>``."""
    import jinja2

    folder = TEMPLATES_ROOT / kind
    if not folder.is_dir():
        raise FileNotFoundError(f"mobilekit's templates are missing: {folder}")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(filters or {})
    return env

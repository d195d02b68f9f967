"""Rendering replies: jinja2 templates per channel (text, slack, wecom) and locale (en, zh)."""

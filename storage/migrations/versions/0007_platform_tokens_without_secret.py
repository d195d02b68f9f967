"""platform_tokens: drop rows keyed by part of the app secret

Until now the WeCom token was stored under wechatpy's key, which embeds the first 10
characters of WECOM_SECRET. Tokens are now keyed by corp id + agent id. The table is a cache
(a missing token is fetched again on the next call), so every existing row, all written
under the old key, is deleted rather than rewritten.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM platform_tokens"))


def downgrade() -> None:
    # Nothing to restore: the older code fetches a token again under its own key.
    pass

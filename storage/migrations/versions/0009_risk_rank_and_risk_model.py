"""risk rank per snapshot, the risk model of each score run

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 06:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('score_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('risk_model', sa.Text(), nullable=True))

    with op.batch_alter_table('score_snapshots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('risk_rank', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('score_snapshots', schema=None) as batch_op:
        batch_op.drop_column('risk_rank')

    with op.batch_alter_table('score_runs', schema=None) as batch_op:
        batch_op.drop_column('risk_model')

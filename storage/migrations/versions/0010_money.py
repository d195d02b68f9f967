"""money: exchange rates, the currency of each score run, currency in the orders scan index

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 09:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0010'
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('exchange_rates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('reporting_currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('rate_date', sa.Date(), nullable=False),
    sa.Column('rate', sa.Numeric(precision=24, scale=10), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('currency', 'reporting_currency', 'rate_date', name='uq_exchange_rate_day')
    )

    with op.batch_alter_table('score_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3),
                                      nullable=True))

    # The scoring scan reads each order's currency from the covering index (no table lookup).
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_account_date_amount')
        batch_op.create_index('ix_orders_account_date_amount',
                              ['account_id', 'order_date', 'amount', 'currency'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_account_date_amount')
        batch_op.create_index('ix_orders_account_date_amount',
                              ['account_id', 'order_date', 'amount'], unique=False)

    with op.batch_alter_table('score_runs', schema=None) as batch_op:
        batch_op.drop_column('currency')

    op.drop_table('exchange_rates')

"""Every table of indexer/models.py as first released.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('blocks',
    sa.Column('height', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('time_ms', sa.BigInteger(), nullable=False),
    sa.Column('tx_count', sa.Integer(), nullable=False),
    sa.Column('event_count', sa.Integer(), nullable=False),
    sa.Column('order_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('height')
    )
    op.create_table('candles',
    sa.Column('market_id', sa.Integer(), nullable=False),
    sa.Column('interval', sa.String(length=3), nullable=False),
    sa.Column('start_ms', sa.BigInteger(), nullable=False),
    sa.Column('open', sa.BigInteger(), nullable=False),
    sa.Column('high', sa.BigInteger(), nullable=False),
    sa.Column('low', sa.BigInteger(), nullable=False),
    sa.Column('close', sa.BigInteger(), nullable=False),
    sa.Column('volume', sa.BigInteger(), nullable=False),
    sa.Column('quote_volume_micro_usdc', sa.BigInteger(), nullable=False),
    sa.Column('trade_count', sa.Integer(), nullable=False),
    sa.Column('last_height', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('market_id', 'interval', 'start_ms')
    )
    op.create_table('orders',
    sa.Column('order_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('market_id', sa.Integer(), nullable=False),
    sa.Column('subaccount', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.BigInteger(), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('filled_size', sa.BigInteger(), nullable=False),
    sa.Column('time_in_force', sa.String(length=8), nullable=False),
    sa.Column('iceberg', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=160), nullable=True),
    sa.Column('placed_height', sa.BigInteger(), nullable=False),
    sa.Column('placed_time_ms', sa.BigInteger(), nullable=False),
    sa.Column('updated_height', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('order_id')
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_subaccount_status', ['subaccount', 'status'], unique=False)

    op.create_table('positions',
    sa.Column('subaccount', sa.String(length=64), nullable=False),
    sa.Column('market_id', sa.Integer(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('updated_height', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('subaccount', 'market_id')
    )
    op.create_table('fills',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('height', sa.BigInteger(), nullable=False),
    sa.Column('tx_index', sa.Integer(), nullable=True),
    sa.Column('event_index', sa.Integer(), nullable=False),
    sa.Column('time_ms', sa.BigInteger(), nullable=False),
    sa.Column('subaccount', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=5), nullable=False),
    sa.Column('market_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.BigInteger(), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('fee_micro_usdc', sa.BigInteger(), nullable=False),
    sa.Column('realized_pnl_micro_usdc', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['height'], ['blocks.height'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('height', 'event_index', 'role', name='uq_fills_position')
    )
    with op.batch_alter_table('fills', schema=None) as batch_op:
        batch_op.create_index('ix_fills_subaccount_height', ['subaccount', 'height', 'event_index'], unique=False)

    op.create_table('funding_payments',
    sa.Column('subaccount', sa.String(length=64), nullable=False),
    sa.Column('market_id', sa.Integer(), nullable=False),
    sa.Column('hour', sa.BigInteger(), nullable=False),
    sa.Column('height', sa.BigInteger(), nullable=False),
    sa.Column('time_ms', sa.BigInteger(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('rate_ppm', sa.BigInteger(), nullable=False),
    sa.Column('payment_micro_usdc', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['height'], ['blocks.height'], ),
    sa.PrimaryKeyConstraint('subaccount', 'market_id', 'hour')
    )
    with op.batch_alter_table('funding_payments', schema=None) as batch_op:
        batch_op.create_index('ix_funding_payments_subaccount_height', ['subaccount', 'height'], unique=False)

    op.create_table('funding_rates',
    sa.Column('market_id', sa.Integer(), nullable=False),
    sa.Column('hour', sa.BigInteger(), nullable=False),
    sa.Column('height', sa.BigInteger(), nullable=False),
    sa.Column('time_ms', sa.BigInteger(), nullable=False),
    sa.Column('rate_ppm', sa.BigInteger(), nullable=False),
    sa.Column('samples', sa.Integer(), nullable=False),
    sa.Column('index', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['height'], ['blocks.height'], ),
    sa.PrimaryKeyConstraint('market_id', 'hour')
    )
    op.create_table('liquidations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('height', sa.BigInteger(), nullable=False),
    sa.Column('tx_index', sa.Integer(), nullable=True),
    sa.Column('event_index', sa.Integer(), nullable=False),
    sa.Column('time_ms', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('subaccount', sa.String(length=64), nullable=False),
    sa.Column('market_id', sa.Integer(), nullable=True),
    sa.Column('counterparty', sa.String(length=64), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=True),
    sa.Column('price', sa.BigInteger(), nullable=True),
    sa.Column('fee_micro_usdc', sa.BigInteger(), nullable=True),
    sa.Column('equity_micro_usdc', sa.BigInteger(), nullable=True),
    sa.Column('maintenance_micro_usdc', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['height'], ['blocks.height'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('height', 'event_index', name='uq_liquidations_position')
    )
    with op.batch_alter_table('liquidations', schema=None) as batch_op:
        batch_op.create_index('ix_liquidations_subaccount_height', ['subaccount', 'height'], unique=False)

    op.create_table('order_updates',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('height', sa.BigInteger(), nullable=False),
    sa.Column('tx_index', sa.Integer(), nullable=True),
    sa.Column('event_index', sa.Integer(), nullable=False),
    sa.Column('time_ms', sa.BigInteger(), nullable=False),
    sa.Column('order_id', sa.BigInteger(), nullable=False),
    sa.Column('subaccount', sa.String(length=64), nullable=False),
    sa.Column('market_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('filled_size', sa.BigInteger(), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=160), nullable=True),
    sa.ForeignKeyConstraint(['height'], ['blocks.height'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('height', 'event_index', 'order_id', name='uq_order_updates_position')
    )
    with op.batch_alter_table('order_updates', schema=None) as batch_op:
        batch_op.create_index('ix_order_updates_order', ['order_id', 'height', 'event_index'], unique=False)

    op.create_table('trades',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('height', sa.BigInteger(), nullable=False),
    sa.Column('tx_index', sa.Integer(), nullable=True),
    sa.Column('event_index', sa.Integer(), nullable=False),
    sa.Column('time_ms', sa.BigInteger(), nullable=False),
    sa.Column('market_id', sa.Integer(), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('taker_side', sa.String(length=4), nullable=False),
    sa.Column('maker', sa.String(length=64), nullable=False),
    sa.Column('taker', sa.String(length=64), nullable=False),
    sa.Column('maker_order_id', sa.BigInteger(), nullable=False),
    sa.Column('taker_order_id', sa.BigInteger(), nullable=False),
    sa.Column('maker_fee_micro_usdc', sa.BigInteger(), nullable=False),
    sa.Column('taker_fee_micro_usdc', sa.BigInteger(), nullable=False),
    sa.Column('maker_realized_pnl_micro_usdc', sa.BigInteger(), nullable=False),
    sa.Column('taker_realized_pnl_micro_usdc', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['height'], ['blocks.height'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('height', 'event_index', name='uq_trades_position')
    )
    with op.batch_alter_table('trades', schema=None) as batch_op:
        batch_op.create_index('ix_trades_market_height', ['market_id', 'height', 'event_index'], unique=False)

    op.create_table('transfers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('height', sa.BigInteger(), nullable=False),
    sa.Column('tx_index', sa.Integer(), nullable=True),
    sa.Column('event_index', sa.Integer(), nullable=False),
    sa.Column('time_ms', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('subaccount', sa.String(length=64), nullable=False),
    sa.Column('amount_micro_usdc', sa.BigInteger(), nullable=False),
    sa.Column('counterparty', sa.String(length=66), nullable=True),
    sa.Column('reference', sa.String(length=80), nullable=True),
    sa.ForeignKeyConstraint(['height'], ['blocks.height'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('height', 'event_index', 'kind', name='uq_transfers_position')
    )
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.create_index('ix_transfers_subaccount_height', ['subaccount', 'height'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.drop_index('ix_transfers_subaccount_height')

    op.drop_table('transfers')
    with op.batch_alter_table('trades', schema=None) as batch_op:
        batch_op.drop_index('ix_trades_market_height')

    op.drop_table('trades')
    with op.batch_alter_table('order_updates', schema=None) as batch_op:
        batch_op.drop_index('ix_order_updates_order')

    op.drop_table('order_updates')
    with op.batch_alter_table('liquidations', schema=None) as batch_op:
        batch_op.drop_index('ix_liquidations_subaccount_height')

    op.drop_table('liquidations')
    op.drop_table('funding_rates')
    with op.batch_alter_table('funding_payments', schema=None) as batch_op:
        batch_op.drop_index('ix_funding_payments_subaccount_height')

    op.drop_table('funding_payments')
    with op.batch_alter_table('fills', schema=None) as batch_op:
        batch_op.drop_index('ix_fills_subaccount_height')

    op.drop_table('fills')
    op.drop_table('positions')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_subaccount_status')

    op.drop_table('orders')
    op.drop_table('candles')
    op.drop_table('blocks')

"""positions.funding_index: the market's funding index at the position's last change, where the
chain last settled its funding, so each hourly payment is the growth of that one settlement.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # rows stored before it: measured from genesis's index, as their payments were until now
    with op.batch_alter_table('positions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('funding_index', sa.BigInteger(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('positions', schema=None) as batch_op:
        batch_op.drop_column('funding_index')

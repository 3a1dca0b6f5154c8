"""Webhooks: one attempt in flight per subscription, a circuit breaker, checkpoint deliveries

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-12 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('webhook_subscription', schema=None) as batch_op:
        batch_op.add_column(sa.Column('after_checkpoint', sa.BigInteger(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('consecutive_failures', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('circuit_open_until', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('claimed_until', sa.DateTime(timezone=True),
                                      nullable=True))
    # Subscriptions made before checkpoints were sent start after the newest one:
    # opting in later must not flood a receiver with the ledger's history.
    op.execute("UPDATE webhook_subscription SET after_checkpoint = "
               "(SELECT COALESCE(MAX(sequence), 0) FROM ledger_checkpoint)")

    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checkpoint_id', sa.Integer(), nullable=True))
        batch_op.alter_column('event_id', existing_type=sa.BigInteger().with_variant(
            sa.Integer(), 'sqlite'), nullable=True)
        batch_op.create_foreign_key(
            batch_op.f('fk_webhook_delivery_checkpoint_id_ledger_checkpoint'),
            'ledger_checkpoint', ['checkpoint_id'], ['id'])
        batch_op.create_unique_constraint(
            batch_op.f('uq_webhook_delivery_subscription_id_checkpoint_id'),
            ['subscription_id', 'checkpoint_id'])
        batch_op.create_check_constraint(
            'event_or_checkpoint', '(event_id IS NULL) <> (checkpoint_id IS NULL)')
        batch_op.create_index(batch_op.f('ix_webhook_delivery_checkpoint_id'),
                              ['checkpoint_id'], unique=False)
        batch_op.create_index('ix_webhook_delivery_queue', ['subscription_id', 'status', 'id'],
                              unique=False)


def downgrade():
    # Checkpoint deliveries have no event: they cannot be kept in the older shape.
    op.execute("DELETE FROM webhook_delivery WHERE checkpoint_id IS NOT NULL")
    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_delivery_queue')
        batch_op.drop_index(batch_op.f('ix_webhook_delivery_checkpoint_id'))
        batch_op.drop_constraint(batch_op.f('ck_webhook_delivery_event_or_checkpoint'),
                                 type_='check')
        batch_op.drop_constraint(
            batch_op.f('uq_webhook_delivery_subscription_id_checkpoint_id'), type_='unique')
        batch_op.drop_constraint(
            batch_op.f('fk_webhook_delivery_checkpoint_id_ledger_checkpoint'),
            type_='foreignkey')
        batch_op.alter_column('event_id', existing_type=sa.BigInteger().with_variant(
            sa.Integer(), 'sqlite'), nullable=False)
        batch_op.drop_column('checkpoint_id')

    with op.batch_alter_table('webhook_subscription', schema=None) as batch_op:
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('circuit_open_until')
        batch_op.drop_column('consecutive_failures')
        batch_op.drop_column('after_checkpoint')

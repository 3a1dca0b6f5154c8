"""Regulators: ledger chain and checkpoints, progress counters, webhooks

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 01:16:10.515682

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ledger_checkpoint',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.BigInteger(), nullable=False),
    sa.Column('first_sequence', sa.BigInteger(), nullable=False),
    sa.Column('head_hash', sa.String(length=64), nullable=False),
    sa.Column('merkle_root', sa.String(length=64), nullable=False),
    sa.Column('previous_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('key_id', sa.String(length=8), nullable=False),
    sa.Column('statement', sa.Text(), nullable=False),
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['key_id'], ['label_key.key_id'], name=op.f('fk_ledger_checkpoint_key_id_label_key')),
    sa.ForeignKeyConstraint(['previous_id'], ['ledger_checkpoint.id'], name=op.f('fk_ledger_checkpoint_previous_id_ledger_checkpoint')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_checkpoint')),
    sa.UniqueConstraint('sequence', name=op.f('uq_ledger_checkpoint_sequence'))
    )
    with op.batch_alter_table('ledger_checkpoint', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_checkpoint_key_id'), ['key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_checkpoint_previous_id'), ['previous_id'], unique=False)

    op.create_table('webhook_subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('created_by_user_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('actions', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('region_code', sa.String(length=12), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('after_sequence', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_status', sa.String(length=20), nullable=False),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=False),
    sa.Column('last_delivery_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['user_account.id'], name=op.f('fk_webhook_subscription_created_by_user_id_user_account')),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_webhook_subscription_organization_id_organization')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_webhook_subscription_project_id_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_subscription'))
    )
    with op.batch_alter_table('webhook_subscription', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_subscription_created_by_user_id'), ['created_by_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_subscription_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_subscription_project_id'), ['project_id'], unique=False)

    op.create_table('progress_counter',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('storey_id', sa.Integer(), nullable=True),
    sa.Column('component_type_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('day', sa.Date(), nullable=True),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['component_type_id'], ['component_type.id'], name=op.f('fk_progress_counter_component_type_id_component_type')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_progress_counter_project_id_project')),
    sa.ForeignKeyConstraint(['storey_id'], ['storey.id'], name=op.f('fk_progress_counter_storey_id_storey')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_progress_counter')),
    sa.UniqueConstraint('key', name=op.f('uq_progress_counter_key'))
    )
    with op.batch_alter_table('progress_counter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_progress_counter_component_type_id'), ['component_type_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_progress_counter_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_progress_counter_storey_id'), ['storey_id'], unique=False)

    op.create_table('webhook_delivery',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], name=op.f('fk_webhook_delivery_event_id_event')),
    sa.ForeignKeyConstraint(['subscription_id'], ['webhook_subscription.id'], name=op.f('fk_webhook_delivery_subscription_id_webhook_subscription')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_delivery')),
    sa.UniqueConstraint('subscription_id', 'event_id', name=op.f('uq_webhook_delivery_subscription_id_event_id'))
    )
    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_delivery_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_delivery_event_id'), ['event_id'], unique=False)

    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sequence', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('content_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('chain_hash', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_event_qc_fail', ['component_id'], unique=False, postgresql_where=sa.text("action = 'qc_fail'"), sqlite_where=sa.text("action = 'qc_fail'"))
        batch_op.create_index('ix_event_unsealed', ['id'], unique=False, postgresql_where=sa.text('sequence IS NULL'), sqlite_where=sa.text('sequence IS NULL'))
        batch_op.create_unique_constraint(batch_op.f('uq_event_sequence'), ['sequence'])



def downgrade():
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_event_sequence'), type_='unique')
        batch_op.drop_index('ix_event_unsealed', postgresql_where=sa.text('sequence IS NULL'), sqlite_where=sa.text('sequence IS NULL'))
        batch_op.drop_index('ix_event_qc_fail', postgresql_where=sa.text("action = 'qc_fail'"), sqlite_where=sa.text("action = 'qc_fail'"))
        batch_op.drop_column('chain_hash')
        batch_op.drop_column('content_hash')
        batch_op.drop_column('sequence')

    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_delivery_event_id'))
        batch_op.drop_index('ix_webhook_delivery_due')

    op.drop_table('webhook_delivery')
    with op.batch_alter_table('progress_counter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_progress_counter_storey_id'))
        batch_op.drop_index(batch_op.f('ix_progress_counter_project_id'))
        batch_op.drop_index(batch_op.f('ix_progress_counter_component_type_id'))

    op.drop_table('progress_counter')
    with op.batch_alter_table('webhook_subscription', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_subscription_project_id'))
        batch_op.drop_index(batch_op.f('ix_webhook_subscription_organization_id'))
        batch_op.drop_index(batch_op.f('ix_webhook_subscription_created_by_user_id'))

    op.drop_table('webhook_subscription')
    with op.batch_alter_table('ledger_checkpoint', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_checkpoint_previous_id'))
        batch_op.drop_index(batch_op.f('ix_ledger_checkpoint_key_id'))

    op.drop_table('ledger_checkpoint')

"""Labels: signing keys, label versions, sightings, security events and alerts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 00:14:07.124063

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('label_key',
    sa.Column('key_id', sa.String(length=8), nullable=False),
    sa.Column('algorithm', sa.String(length=20), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_label_key'))
    )
    op.create_table('label',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('component_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.String(length=8), nullable=False),
    sa.Column('url', sa.String(length=400), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_by_user_id', sa.Integer(), nullable=False),
    sa.Column('print_count', sa.Integer(), nullable=False),
    sa.Column('last_printed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_user_id', sa.Integer(), nullable=True),
    sa.Column('revoked_reason', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['component_id'], ['component.id'], name=op.f('fk_label_component_id_component')),
    sa.ForeignKeyConstraint(['issued_by_user_id'], ['user_account.id'], name=op.f('fk_label_issued_by_user_id_user_account')),
    sa.ForeignKeyConstraint(['key_id'], ['label_key.key_id'], name=op.f('fk_label_key_id_label_key')),
    sa.ForeignKeyConstraint(['revoked_by_user_id'], ['user_account.id'], name=op.f('fk_label_revoked_by_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_label')),
    sa.UniqueConstraint('component_id', 'version', name=op.f('uq_label_component_id_version'))
    )
    with op.batch_alter_table('label', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_label_issued_by_user_id'), ['issued_by_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_label_key_id'), ['key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_label_revoked_by_user_id'), ['revoked_by_user_id'], unique=False)

    op.create_table('alert',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('open_key', sa.String(length=80), nullable=True),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('component_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('label_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('detail', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('occurrences', sa.Integer(), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by_user_id', sa.Integer(), nullable=True),
    sa.Column('close_note', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['closed_by_user_id'], ['user_account.id'], name=op.f('fk_alert_closed_by_user_id_user_account')),
    sa.ForeignKeyConstraint(['component_id'], ['component.id'], name=op.f('fk_alert_component_id_component')),
    sa.ForeignKeyConstraint(['label_id'], ['label.id'], name=op.f('fk_alert_label_id_label')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_alert_project_id_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert')),
    sa.UniqueConstraint('open_key', name=op.f('uq_alert_open_key'))
    )
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_closed_by_user_id'), ['closed_by_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_component_id'), ['component_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_label_id'), ['label_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_last_seen_at'), ['last_seen_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_project_id'), ['project_id'], unique=False)

    op.create_table('label_sighting',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('label_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('latitude', sa.Numeric(precision=9, scale=6, asdecimal=False), nullable=True),
    sa.Column('longitude', sa.Numeric(precision=9, scale=6, asdecimal=False), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['label_id'], ['label.id'], name=op.f('fk_label_sighting_label_id_label')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_label_sighting_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_label_sighting'))
    )
    with op.batch_alter_table('label_sighting', schema=None) as batch_op:
        batch_op.create_index('ix_label_sighting_label_id_id', ['label_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_label_sighting_user_id'), ['user_id'], unique=False)

    op.create_table('security_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('reason', sa.String(length=30), nullable=False),
    sa.Column('scanned_text', sa.String(length=500), nullable=False),
    sa.Column('component_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('label_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('client_event_id', sa.String(length=64), nullable=True),
    sa.Column('location', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['component_id'], ['component.id'], name=op.f('fk_security_event_component_id_component')),
    sa.ForeignKeyConstraint(['label_id'], ['label.id'], name=op.f('fk_security_event_label_id_label')),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], name=op.f('fk_security_event_organization_id_organization')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_security_event_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_security_event')),
    sa.UniqueConstraint('user_id', 'client_event_id', name=op.f('uq_security_event_user_id_client_event_id'))
    )
    with op.batch_alter_table('security_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_security_event_component_id'), ['component_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_security_event_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_security_event_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_security_event_label_id'), ['label_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_security_event_organization_id'), ['organization_id'], unique=False)



def downgrade():
    with op.batch_alter_table('security_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_security_event_organization_id'))
        batch_op.drop_index(batch_op.f('ix_security_event_label_id'))
        batch_op.drop_index(batch_op.f('ix_security_event_kind'))
        batch_op.drop_index(batch_op.f('ix_security_event_created_at'))
        batch_op.drop_index(batch_op.f('ix_security_event_component_id'))

    op.drop_table('security_event')
    with op.batch_alter_table('label_sighting', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_label_sighting_user_id'))
        batch_op.drop_index('ix_label_sighting_label_id_id')

    op.drop_table('label_sighting')
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_project_id'))
        batch_op.drop_index(batch_op.f('ix_alert_last_seen_at'))
        batch_op.drop_index(batch_op.f('ix_alert_label_id'))
        batch_op.drop_index(batch_op.f('ix_alert_kind'))
        batch_op.drop_index(batch_op.f('ix_alert_component_id'))
        batch_op.drop_index(batch_op.f('ix_alert_closed_by_user_id'))

    op.drop_table('alert')
    with op.batch_alter_table('label', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_label_revoked_by_user_id'))
        batch_op.drop_index(batch_op.f('ix_label_key_id'))
        batch_op.drop_index(batch_op.f('ix_label_issued_by_user_id'))

    op.drop_table('label')
    op.drop_table('label_key')

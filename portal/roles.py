"""The ops role: a Django group holding exactly what ops staff need, and nothing that runs code.

Ops staff onboard tenants and their connections, run and pause integrations, keep mapping rules,
and read runs, records, webhook events and the audit trail. They do not manage users or groups
(that would let them grant themselves more) and never reach django_q's admin, which is for
superusers only. Migration portal 0002 creates the group; after every `migrate` (and every test
database flush) a post_migrate hook sets its permissions to exactly this list again, so adding a
model or a permission here is all it takes.
"""

OPS_GROUP = "Ops"

OPS_PERMISSIONS = {
    "portal": ["add_tenant", "change_tenant", "view_tenant",
               "add_membership", "change_membership", "delete_membership", "view_membership",
               "view_auditentry"],
    "connectors": ["add_connection", "change_connection", "view_connection"],
    "syncs": ["add_integration", "change_integration", "view_integration",
              "add_mappingrule", "change_mappingrule", "delete_mappingrule", "view_mappingrule",
              "view_syncrecord", "view_syncrun", "view_cursor"],
    "webhooks": ["change_webhooksubscription", "view_webhooksubscription", "view_webhookevent"],
}


def permission_keys():
    return {(app, codename) for app, codenames in OPS_PERMISSIONS.items() for codename in codenames}


def ensure_ops_group(Group, Permission):
    """Create the Ops group if needed and give it exactly OPS_PERMISSIONS (models passed in, so the
    migration can use its historical ones)."""
    group, _ = Group.objects.get_or_create(name=OPS_GROUP)
    wanted = [Permission.objects.get(content_type__app_label=app, codename=codename)
              for app, codename in sorted(permission_keys())]
    group.permissions.set(wanted)
    return group


def sync_ops_group(**kwargs):
    """post_migrate receiver: keeps the group in step once every app's permissions exist."""
    from django.contrib.auth.models import Group, Permission

    ensure_ops_group(Group, Permission)

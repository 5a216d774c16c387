"""The admin of integrations, mapping rules, sync records (with the work queue), runs and cursors, each scoped to
the tenants the user operates (portal.admin_utils.TenantScopedAdminMixin), custom pages included. Each module
registers its models; importing them here is what registers them when Django discovers `syncs.admin`."""

from syncs.admin import integrations, records, rules, runs  # noqa: F401

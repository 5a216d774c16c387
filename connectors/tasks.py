"""The connection tasks the task cluster runs (listed by short name in portal.jobs)."""

from connectors.assumptions import run_check
from connectors.models import Connection


def check_assumptions(connection_id, actor):
    """The admin's "Check assumptions": the report, kept on the connection, is what the admin page follows."""
    connection = Connection.objects.select_related("tenant").filter(pk=connection_id).first()
    if connection is not None:
        run_check(connection, actor)

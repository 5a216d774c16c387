"""An integration's two systems as the run, the plan and the pages speak of them: each one's name in words, and
whether the ERP takes payments back.

Below the models and the steps (both use it), so it imports neither: nothing here may reach syncs.plan, which
imports every step."""

from connectors import capabilities as can


def system_name(connection):
    return connection.spec.label.split(" (")[0]


def writes_payments_back(integration):
    return can.WRITES_PAYMENTS_BACK in integration.source.spec.capabilities

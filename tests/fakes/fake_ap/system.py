"""The fake AP platform's declaration: the AP capabilities the engine's steps use.

Two are left out. Payments by webhook need a webhook receiver, which belongs to a system that is called over
HTTP; the fake is polled. Taking the ERP's code lists makes every published code its own mapping rule, so a GL
account could never be unmapped: the fake keeps its own chart of accounts, as BILL does, and publishing keeps
its proof on Infor → AvidXchange over the simulators."""

from connectors import capabilities as can
from connectors.spec import AP, System

SYSTEM = System(
    id="fake_ap",
    label="Fake AP",
    kind=AP,
    credential_fields=(),
    connector_class_path="tests.fakes.fake_ap.connector.FakeApConnector",
    capabilities=can.AP_CAPABILITIES - {can.PAYMENTS_BY_WEBHOOK, can.ACCEPTS_REFERENCE_DATA},
    base_url_required=False,
)

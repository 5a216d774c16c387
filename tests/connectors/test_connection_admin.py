"""Connections in the admin: per-system fields, validation, secrets encrypted and never shown."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection as db_connection
from django.urls import reverse

from connectors.models import Connection
from portal.fields import CredentialsUnreadable
from portal.models import AuditEntry
from tests.conftest import SAMPLE_IONAPI

SECRETS = [SAMPLE_IONAPI["cs"], SAMPLE_IONAPI["saak"], SAMPLE_IONAPI["sask"]]
BILL_PASSWORD = "bill-password-SECRET-771"
BILL_DEVKEY = "bill-devkey-SECRET-0042"


@pytest.fixture
def ops(admin_client):
    return admin_client


def add_url(system):
    return reverse("admin:connectors_connection_add") + f"?system={system}"


def infor_post(tenant, **overrides):
    data = {"tenant": tenant.pk, "name": "Infor production", "base_url": "", "ionapi_text": json.dumps(SAMPLE_IONAPI),
            "company": "100", "division": "AAA"}
    data.update(overrides)
    return data


def bill_post(tenant, **overrides):
    data = {"tenant": tenant.pk, "name": "BILL", "base_url": "https://gateway.stage.bill.com/connect",
            "sign_in": "user", "username": "ap@acme.test", "password": BILL_PASSWORD,
            "organization_id": "00801ABCDEF", "dev_key": BILL_DEVKEY}
    data.update(overrides)
    return data


def raw_credentials_column(pk):
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT credentials_blob FROM connectors_connection WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_add_asks_which_system_first(ops, tenant):
    response = ops.get(reverse("admin:connectors_connection_add"))
    assert response.status_code == 200
    for label in ("Infor CloudSuite", "BILL", "IFS Cloud", "Acumatica", "SYSPRO", "AvidXchange"):
        assert label in response.content.decode()


def test_infor_connection_from_uploaded_ionapi_file(ops, tenant):
    upload = SimpleUploadedFile("acme.ionapi", json.dumps(SAMPLE_IONAPI).encode(), "application/json")
    response = ops.post(add_url("infor"), infor_post(tenant, ionapi_text="", ionapi_file=upload))
    assert response.status_code == 302, response.content.decode()[:3000]
    conn = Connection.objects.get(name="Infor production")
    assert conn.system == "infor"
    assert conn.credentials["saak"] == SAMPLE_IONAPI["saak"]
    assert conn.credentials["iu"] == SAMPLE_IONAPI["iu"]
    assert conn.options == {"company": "100", "division": "AAA", "document_store": "", "idm_document_type": ""}


def test_credentials_column_holds_no_plaintext(ops, tenant):
    ops.post(add_url("infor"), infor_post(tenant))
    ops.post(add_url("bill"), bill_post(tenant))
    for conn in Connection.objects.all():
        raw = raw_credentials_column(conn.pk)
        assert raw and raw.startswith("gAAAAA"), "stored as one Fernet token"
        for secret in SECRETS + [BILL_PASSWORD, BILL_DEVKEY, "saak", "password", "ap@acme.test"]:
            assert secret not in raw


def test_no_admin_page_shows_a_secret(ops, tenant):
    ops.post(add_url("infor"), infor_post(tenant))
    ops.post(add_url("bill"), bill_post(tenant))
    pages = [reverse("admin:connectors_connection_changelist"), reverse("admin:portal_auditentry_changelist")]
    for conn in Connection.objects.all():
        pages.append(reverse("admin:connectors_connection_change", args=[conn.pk]))
        pages.append(reverse("admin:connectors_connection_history", args=[conn.pk]))
    for entry in AuditEntry.objects.all():
        pages.append(reverse("admin:portal_auditentry_change", args=[entry.pk]))
    for page in pages:
        html = ops.get(page).content.decode()
        for secret in SECRETS + [BILL_PASSWORD, BILL_DEVKEY]:
            assert secret not in html, f"{secret} shown on {page}"
    change = ops.get(reverse("admin:connectors_connection_change", args=[Connection.objects.get(system="bill").pk]))
    assert "******** (set)" in change.content.decode()
    assert "ap@acme.test" in change.content.decode(), "non-secret values are previewed"


@pytest.mark.parametrize("text, message", [
    ("not json at all", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    (json.dumps({k: v for k, v in SAMPLE_IONAPI.items() if k not in ("saak", "sask")}), "missing saak, sask"),
    (json.dumps({k: v for k, v in SAMPLE_IONAPI.items() if k != "ci"}), "missing ci"),
    (json.dumps({**SAMPLE_IONAPI, "cs": 12345}), "cs must be text"),
    (json.dumps({**SAMPLE_IONAPI, "pu": "http://sso.example.com/ACME/as/"}), "pu"),
    (json.dumps({**SAMPLE_IONAPI, "iu": "ftp://ionapi.example.com"}), "is not an https:// URL"),
])
def test_malformed_ionapi_is_rejected_with_the_reason(ops, tenant, text, message):
    response = ops.post(add_url("infor"), infor_post(tenant, ionapi_text=text))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Connection.objects.exists()


def test_missing_required_credential_is_a_form_error(ops, tenant):
    response = ops.post(add_url("bill"), bill_post(tenant, dev_key=""))
    assert response.status_code == 200
    assert "Developer key is required." in response.content.decode()
    assert not Connection.objects.exists()


def test_bad_organization_id_is_a_form_error(ops, tenant):
    response = ops.post(add_url("bill"), bill_post(tenant, organization_id="12345"))
    assert "starts with 008" in response.content.decode()
    assert not Connection.objects.exists()


def test_duplicate_name_in_a_tenant_is_a_form_error(ops, tenant):
    assert ops.post(add_url("bill"), bill_post(tenant)).status_code == 302
    response = ops.post(add_url("bill"), bill_post(tenant))
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert Connection.objects.count() == 1


def test_blank_secret_keeps_the_stored_value(ops, tenant):
    ops.post(add_url("bill"), bill_post(tenant))
    conn = Connection.objects.get()
    url = reverse("admin:connectors_connection_change", args=[conn.pk])
    response = ops.post(url, bill_post(tenant, password="", dev_key="", username="new-user@acme.test"))
    assert response.status_code == 302, response.content.decode()[:3000]
    conn.refresh_from_db()
    assert conn.credentials["password"] == BILL_PASSWORD
    assert conn.credentials["dev_key"] == BILL_DEVKEY
    assert conn.credentials["username"] == "new-user@acme.test"


def test_configuration_changes_are_audited_without_secrets(ops, tenant):
    ops.post(add_url("bill"), bill_post(tenant))
    conn = Connection.objects.get()
    ops.post(reverse("admin:connectors_connection_change", args=[conn.pk]),
             bill_post(tenant, password="rotated-SECRET-pw-555", dev_key="", username="renamed-user@acme.test"))
    ops.post(reverse("admin:connectors_connection_delete", args=[conn.pk]), {"post": "yes"})
    entries = list(AuditEntry.objects.order_by("id"))
    assert [e.action for e in entries] == ["config.created", "config.changed", "config.deleted"]
    assert all(e.actor == "admin" and e.tenant == tenant for e in entries)
    assert "password" in entries[1].details["changed_fields"]
    # A credential kept encrypted is not written out in the audit trail either, a user name as much as a password.
    assert entries[1].details["changed_fields"]["username"] == "(changed, redacted)"
    dumped = json.dumps([e.details for e in entries]) + "".join(e.message for e in entries)
    for secret in (BILL_PASSWORD, BILL_DEVKEY, "rotated-SECRET-pw-555", "renamed-user@acme.test"):
        assert secret not in dumped


def test_undecryptable_credentials_are_reported_and_preserved(ops, tenant, settings):
    ops.post(add_url("bill"), bill_post(tenant))
    conn = Connection.objects.get()
    # Simulate a wrong key: store a token made with a key the portal does not have.
    from cryptography.fernet import Fernet

    foreign = Fernet(Fernet.generate_key()).encrypt(b'{"password": "x"}').decode()
    with db_connection.cursor() as cursor:
        cursor.execute("UPDATE connectors_connection SET credentials_blob = %s WHERE id = %s", [foreign, conn.pk])
    conn = Connection.objects.get()
    assert not conn.credentials_readable
    with pytest.raises(CredentialsUnreadable) as excinfo:
        conn.credentials  # noqa: B018
    assert foreign not in str(excinfo.value)
    page = ops.get(reverse("admin:connectors_connection_change", args=[conn.pk])).content.decode()
    assert "cannot be decrypted" in page
    assert foreign not in page
    # An unrelated save keeps the stored ciphertext as it was: nothing is lost.
    conn.last_error = "checked"
    conn.save()
    assert raw_credentials_column(conn.pk) == foreign


def test_rotate_encryption_keys_reencrypts_with_the_first_salt(ops, tenant):
    import io

    from django.core.management import call_command

    ops.post(add_url("bill"), bill_post(tenant))
    conn = Connection.objects.get()
    before = raw_credentials_column(conn.pk)
    call_command("rotate_encryption_keys", stdout=io.StringIO())
    after = raw_credentials_column(conn.pk)
    assert after != before and after.startswith("gAAAAA")
    assert Connection.objects.get().credentials["password"] == BILL_PASSWORD

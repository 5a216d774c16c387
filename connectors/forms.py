"""The connection form: the fields of the chosen system, validated, secrets never echoed back.

Stored secrets only ever go where they went before: when an address they are sent to changes (the base URL,
or a field the system declares a destination), the form asks for them again."""

from django import forms
from django.core.exceptions import ValidationError

from connectors.addresses import shown_url
from connectors.models import Connection
from connectors.registry import SYSTEMS, get_system
from portal import audit

KEEP_HINT = "Leave blank to keep the stored value."


class SystemChoiceForm(forms.Form):
    """The first step of adding a connection: which system it reaches. Only built systems can be chosen;
    the page lists the others as coming, and a submitted id is checked here whatever the page offered."""

    system = forms.CharField()

    def clean_system(self):
        system_id = self.cleaned_data["system"]
        spec = SYSTEMS.get(system_id)
        built = ", ".join(s.label for s in SYSTEMS.values() if s.built)
        if spec is None:
            raise ValidationError(f"There is no system {system_id!r}. Choose one of: {built}.")
        if not spec.built:
            raise ValidationError(f"{spec.label} is not built yet, so no connection to it can be added. "
                                  f"Choose one of: {built}.")
        return spec


def _document_fields(f):
    return {
        f"{f.name}_file": forms.FileField(label=f"{f.label}: upload", required=False, help_text=f.help_text),
        f"{f.name}_text": forms.CharField(label="…or paste its contents", required=False,
                                          widget=forms.Textarea(attrs={"rows": 6, "autocomplete": "off"})),
    }


def _form_field(f):
    if f.kind == "secret":
        return forms.CharField(label=f.label, required=False, help_text=f.help_text, strip=True,
                               widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}))
    if f.kind == "choice":
        return forms.ChoiceField(label=f.label, required=False, choices=f.choices, initial=f.initial,
                                 help_text=f.help_text)
    return forms.CharField(label=f.label, required=False, help_text=f.help_text, initial=f.initial)


class ConnectionFormBase(forms.ModelForm):
    system_spec = None

    class Meta:
        model = Connection
        fields = ["tenant", "name", "base_url"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        spec = self.system_spec
        self.instance.system = spec.id
        self.stored_credentials = {}
        self.credentials_unreadable = False
        self.stored_addresses = {}
        self.address_changes = []
        if self.instance.pk:
            if self.instance.credentials_readable:
                self.stored_credentials = self.instance.credentials
            else:
                self.credentials_unreadable = True
            self.stored_addresses = spec.addresses(self.instance.base_url, self.stored_credentials,
                                                   self.instance.options)
        if spec.base_url_help:
            self.fields["base_url"].help_text = spec.base_url_help
        for f in spec.credential_fields:
            stored = self.stored_credentials.get(f.name)
            if f.kind == "document":
                if self.instance.pk and not self.credentials_unreadable:
                    self.fields[f"{f.name}_file"].help_text = "A file is stored. " + KEEP_HINT
            elif f.kind == "secret":
                if stored:
                    self.fields[f.name].help_text = ("A value is stored. " + KEEP_HINT + " " + f.help_text).strip()
            elif stored is not None:
                self.fields[f.name].initial = stored
        for f in spec.option_fields:
            stored = self.instance.options.get(f.name) if self.instance.pk else None
            if stored is not None:
                self.fields[f.name].initial = stored

    @property
    def credential_field_names(self):
        """Every credential field: kept encrypted on the connection, so the audit trail says only that one changed,
        never its value, a user name as much as a password."""
        names = set()
        for f in self.system_spec.credential_fields:
            names.update({f"{f.name}_file", f"{f.name}_text"} if f.kind == "document" else {f.name})
        return names

    @property
    def secret_field_names(self):
        names = set()
        for f in self.system_spec.credential_fields:
            if f.kind == "secret":
                names.add(f.name)
            if f.kind == "document":
                names.update({f"{f.name}_file", f"{f.name}_text"})
        return names

    def clean_base_url(self):
        url = self.cleaned_data.get("base_url", "").strip()
        if not url and self.system_spec.base_url_required:
            raise ValidationError("The base URL is required for this system.")
        problem = url and self.system_spec.address_problem(url)
        if problem:
            raise ValidationError(problem)
        return url.rstrip("/")

    def _submitted(self, f):
        if f.kind == "document":
            upload = self.cleaned_data.get(f"{f.name}_file")
            if upload:
                raw = upload.read()
                try:
                    return raw.decode("utf-8-sig")
                except UnicodeDecodeError:
                    raise ValidationError("The uploaded file is not UTF-8 text.") from None
            return self.cleaned_data.get(f"{f.name}_text", "")
        return self.cleaned_data.get(f.name, "")

    def clean(self):
        cleaned = super().clean()
        spec = self.system_spec
        credentials = dict(self.stored_credentials)
        kept_secrets = []
        for f in spec.credential_fields:
            error_field = f"{f.name}_file" if f.kind == "document" else f.name
            value = self._submitted(f) if error_field not in self.errors else ""
            value = value.strip() if isinstance(value, str) else value
            if not value:
                has_stored = bool(self.stored_credentials) if f.kind == "document" else bool(
                    self.stored_credentials.get(f.name))
                if f.kind in ("secret", "document") and has_stored:
                    kept_secrets.append((f, error_field))
                    continue
                if f.required:
                    self.add_error(error_field, f"{f.label} is required.")
                    continue
                credentials[f.name] = ""
                continue
            try:
                contributed = spec.clean_field(f, value)
            except ValidationError as exc:
                self.add_error(error_field, exc)
                continue
            if f.kind == "document":
                # A new file replaces everything that came from the old one.
                credentials = {k: v for k, v in credentials.items() if k in {x.name for x in spec.credential_fields}}
            credentials.update(contributed)
        options = dict(self.instance.options or {}) if self.instance.pk else {}
        for f in spec.option_fields:
            value = (self.cleaned_data.get(f.name) or "").strip()
            if not value and f.required:
                self.add_error(f.name, f"{f.label} is required.")
                continue
            try:
                options.update(spec.clean_field(f, value) if value else {f.name: value})
            except ValidationError as exc:
                self.add_error(f.name, exc)
        self.new_credentials = credentials
        self.new_options = options
        self._check_addresses(cleaned, kept_secrets)
        return cleaned

    def _check_addresses(self, cleaned, kept_secrets):
        """Refuse a destination the system may not send credentials to, and ask again for every stored secret
        left blank when an address it would be sent to changed."""
        spec = self.system_spec
        fields_by_key = {key: f for f in spec.credential_fields + spec.option_fields for key in f.addresses({})}
        new = spec.addresses(cleaned.get("base_url", ""), self.new_credentials, self.new_options)
        if "base_url" in self.errors or "base_url" not in cleaned:
            new.pop("base_url")  # already refused, in words, on the field itself
        for key, (_label, url) in new.items():
            f = fields_by_key.get(key)
            problem = f is not None and url and spec.address_problem(url)
            if problem:
                self.add_error(f"{f.name}_file" if f.kind == "document" else f.name,
                               f"{f.label}: {problem}" if f.kind == "document" else problem)
        self.address_changes = [(key, label, self.stored_addresses[key][1], url)
                                for key, (label, url) in new.items()
                                if key in self.stored_addresses and self.stored_addresses[key][1] != url]
        if not self.address_changes:
            return
        changed = " and ".join(f"the {label} changed from {shown_url(old) or '(none)'} to {shown_url(url) or '(none)'}"
                               for _key, label, old, url in self.address_changes)
        for f, error_field in kept_secrets:
            if f.kind == "document":
                stored = f"the file stored for {f.label} is not sent there: upload or paste it again"
            else:
                stored = f"the stored {lowercase(f.label)} is not sent there: enter it again"
            self.add_error(error_field, f"{changed[0].upper()}{changed[1:]}, so {stored}.")
            # The hint written when the form was built ("a value is stored, leave blank to keep it") no longer holds.
            # (The bound field copied the hint when the fields were cleaned.)
            self.fields[error_field].help_text = self[error_field].help_text = f.help_text

    def audit_address_changes(self, actor):
        """One audit entry per changed address, with who changed it; the addresses only, never a secret."""
        for key, label, old, new in self.address_changes:
            old, new = shown_url(old), shown_url(new)
            audit.record("connection.address_changed", actor=actor, tenant=self.instance.tenant, obj=self.instance,
                         message=f"The {label} changed from {old or '(none)'} to {new or '(none)'}.",
                         details={"field": key, "old": old, "new": new})

    def save(self, commit=True):
        self.instance.system = self.system_spec.id
        self.instance.set_credentials(self.new_credentials)
        self.instance.options = self.new_options
        if self.address_changes:
            # Connection.save drops the cached session or token: one obtained at the old address is not
            # presented at the new one, even when the secrets typed again are the same.
            self.instance._credentials_changed = True
        if self.instance.health == Connection.HEALTH_UNREADABLE:
            self.instance.health = Connection.HEALTH_UNKNOWN
        return super().save(commit=commit)


def lowercase(label):
    """A field's label inside a sentence; an acronym ("OData password", "IAM client secret") stays as it is."""
    return label if label[1:2].isupper() else label[:1].lower() + label[1:]


def connection_form_for(system_id):
    spec = get_system(system_id)
    attrs = {"system_spec": spec}
    for f in spec.credential_fields:
        if f.kind == "document":
            attrs.update(_document_fields(f))
        else:
            attrs[f.name] = _form_field(f)
    for f in spec.option_fields:
        attrs[f.name] = _form_field(f)
    return type(f"{spec.id.title()}ConnectionForm", (ConnectionFormBase,), attrs)

"""An encrypted text field that refuses to pass ciphertext off as plaintext.

django-fernet-encrypted-fields 0.4 returns the stored ciphertext unchanged when no key decrypts it
(a wrong or rotated SALT_KEY / SECRET_KEY). This field returns an `Undecryptable` marker instead,
which readers must check, and which saves back unchanged so an unrelated save never destroys it.
"""

from cryptography.fernet import InvalidToken
from encrypted_fields.fields import EncryptedTextField


class Undecryptable(str):
    """The stored ciphertext of a value that no configured key can decrypt."""


class CredentialsUnreadable(Exception):
    """Stored secrets cannot be decrypted with the configured keys."""


class GuardedEncryptedTextField(EncryptedTextField):
    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        try:
            return self.f.decrypt(value.encode("utf-8")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            return Undecryptable(value)

    def get_prep_value(self, value):
        if isinstance(value, Undecryptable):
            return str(value)
        return super().get_prep_value(value)

    def value_to_string(self, obj):
        # Serialization (dumpdata) must never write the plaintext.
        return ""

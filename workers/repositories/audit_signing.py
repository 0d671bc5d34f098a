"""Ed25519 keys for audit checkpoints: the signing key, and the public keys verify trusts.

A key's id is the first 16 hex digits of SHA-256 of its raw public key, so each checkpoint
names the key that signed it and verifies with that key after a rotation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from workers.errors import WorkersError


class KeyProblem(WorkersError):
    """A key file that is missing, unreadable or not Ed25519."""


def key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey

    @property
    def key_id(self) -> str:
        return key_id(self.private.public_key())

    def sign(self, body: bytes) -> bytes:
        return self.private.sign(body)

    @classmethod
    def from_file(cls, path: Path) -> Signer:
        try:
            key = load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as e:
            raise KeyProblem(f"cannot read the audit signing key {path}: {e}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyProblem(
                f"{path} is not an Ed25519 private key (openssl genpkey -algorithm ed25519)"
            )
        return cls(key)


@dataclass(frozen=True)
class TrustedKeys:
    """The public keys `audit verify` accepts, by key id."""

    keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)

    def verify(self, kid: str, signature: bytes, body: bytes) -> str | None:
        """None if `signature` is `kid`'s over `body`; else what is wrong."""
        public = self.keys.get(kid)
        if public is None:
            return f"signed by key {kid}, which is not trusted (AUDIT_PUBLIC_KEYS)"
        try:
            public.verify(signature, body)
        except InvalidSignature:
            return f"signature does not verify with key {kid}"
        return None

    @classmethod
    def load(cls, signer: Signer | None, public_files: list[Path]) -> TrustedKeys:
        keys = {}
        if signer is not None:
            keys[signer.key_id] = signer.private.public_key()
        for path in public_files:
            try:
                public = load_pem_public_key(path.read_bytes())
            except (OSError, ValueError, TypeError) as e:
                raise KeyProblem(f"cannot read the audit public key {path}: {e}") from None
            if not isinstance(public, Ed25519PublicKey):
                raise KeyProblem(f"{path} is not an Ed25519 public key")
            keys[key_id(public)] = public
        return cls(keys)

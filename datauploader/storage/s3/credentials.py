"""S3 credentials: an access key id in the configuration with its secret in the OS keyring,
or the standard AWS environment variables, or an AWS shared-credentials profile (resolved by
botocore, which also knows assume-role, SSO and the other providers); never our files."""

from __future__ import annotations

from dataclasses import dataclass, field

from datauploader.errors import AuthError
from datauploader.options import SecretSlot


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)


def resolve_credentials(endpoint: str, slot: SecretSlot | None, aws_profile: str, env, secrets,
                        section: str):
    """A callable giving Credentials, from (in order): the keyring (``slot``: for a configured
    access key id), the AWS environment variables, an AWS shared-credentials profile. No secret
    is ever read from our configuration."""
    if slot is not None:
        access_key_id = slot.user
        secret = secrets.get(slot.service, access_key_id)
        if secret is None and env.get("AWS_SECRET_ACCESS_KEY") and \
                env.get("AWS_ACCESS_KEY_ID", access_key_id) == access_key_id:
            secret = env["AWS_SECRET_ACCESS_KEY"]
        if secret is None:
            raise AuthError(
                f"No secret is stored for access key {access_key_id} at {endpoint}. Store it with "
                f"'datauploader credentials set {section}', or set AWS_SECRET_ACCESS_KEY.")
        creds = Credentials(access_key_id, secret, env.get("AWS_SESSION_TOKEN") or None)
        return lambda: creds
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY") and not aws_profile:
        creds = Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                            env.get("AWS_SESSION_TOKEN") or None)
        return lambda: creds
    profile = aws_profile or env.get("AWS_PROFILE") or None
    try:
        import botocore.session

        session = botocore.session.Session(profile=profile)
        found = session.get_credentials()
    except Exception as e:  # noqa: BLE001 - botocore.exceptions.ProfileNotFound and friends
        raise AuthError(f"The AWS profile '{profile}' cannot be used: {e}.") from e
    if found is None:
        raise AuthError(
            f"No S3 credentials for {endpoint}: set access_key_id in [storage:{section}] and "
            f"store its secret with 'datauploader credentials set {section}', or set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name an AWS profile.")

    def frozen():
        f = found.get_frozen_credentials()
        return Credentials(f.access_key, f.secret_key, f.token)

    return frozen

"""PyInstaller hook for botocore, replacing pyinstaller-hooks-contrib's (hooks in our
``hookspath`` take precedence).

We use botocore for one thing only: resolving credentials from an AWS shared-credentials
profile (``datauploader.storage.s3.credentials.resolve_credentials``); our S3 client signs
requests itself. The contrib hook collects all of ``botocore/data`` (~30 MB of service models); the
credential providers need the top-level endpoint/retry/default files and the models of the
services they call: STS (assume-role, web identity), SSO and SSO-OIDC (IAM Identity Center),
and Sign-In (``aws login``). Add a service here if a credential provider ever needs another.
"""

from PyInstaller.utils.hooks import collect_data_files

SERVICES = ("sts", "sso", "sso-oidc", "signin")

hiddenimports = ["html.parser"]
datas = collect_data_files("botocore", includes=["data/*.json", "cacert.pem"]
                           + [f"data/{s}/**/*" for s in SERVICES])

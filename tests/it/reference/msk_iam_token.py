"""Checks an MSK IAM token made by our Rust code against AWS's own Python
signer (aws-msk-iam-sasl-signer-python), signing at the same instant with the
same credentials. Exit 0 when every signed query parameter -- including the
SigV4 signature -- is identical; prints the difference otherwise.

usage: msk_iam_token.py TOKEN REGION ACCESS_KEY SECRET_KEY
"""
import base64
import datetime
import json
import sys
from unittest import mock
from urllib.parse import parse_qsl, urlsplit

from aws_msk_iam_sasl_signer import MSKAuthTokenProvider
from botocore.credentials import CredentialProvider, Credentials


def decode(token):
    url = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}", dict(parse_qsl(parts.query))


class Static(CredentialProvider):
    METHOD = "static"

    def __init__(self, key, secret):
        super().__init__()
        self._creds = Credentials(key, secret)

    def load(self):
        return self._creds


def main(token, region, key, secret):
    ours_endpoint, ours = decode(token)
    signed_at = datetime.datetime.strptime(ours["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    with mock.patch("botocore.auth.get_current_datetime", return_value=signed_at):
        reference, _expiry = MSKAuthTokenProvider.generate_auth_token_from_credentials_provider(
            region, Static(key, secret))
    aws_endpoint, aws = decode(reference)
    # User-Agent names the library that made the token; it is added after signing.
    ours.pop("User-Agent", None)
    aws.pop("User-Agent", None)
    if (ours_endpoint, ours) != (aws_endpoint, aws):
        print(json.dumps({"ours": [ours_endpoint, ours], "aws": [aws_endpoint, aws]}, indent=2))
        sys.exit(1)
    print(json.dumps({"endpoint": aws_endpoint, "params": sorted(aws)}))


if __name__ == "__main__":
    main(*sys.argv[1:5])

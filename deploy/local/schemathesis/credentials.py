"""Signs a new person up on the gateway, gives their tenant an API key with
every scope the document names, and sends one event with it (so reads and
the live tail from a past time have something to return); prints shell
assignments for the credentials.

Usage: credentials.py BASE_URL
"""

import json
import secrets
import shlex
import sys
import urllib.request


def call(base, method, path, body, token=None, api_key=None):
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode())
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    if api_key:
        request.add_header("x-api-key", api_key)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def every_scope(base):
    """The scopes `CreateApiKey` accepts, as the document lists them."""
    with urllib.request.urlopen(base + "/openapi.json", timeout=30) as response:
        document = json.load(response)
    scopes = document["components"]["schemas"]["CreateApiKey"]["properties"]["scopes"]["items"]["enum"]
    if not scopes:
        raise SystemExit("the document lists no API key scopes")
    return scopes


def main():
    base = sys.argv[1]
    email = f"schemathesis-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(24)
    signed_up = call(base, "POST", "/v1/auth/signup", {"email": email, "password": password, "tenant_name": "schemathesis"})
    token = signed_up["access_token"]
    key = call(base, "POST", "/v1/api-keys", {"label": "schemathesis", "scopes": every_scope(base)}, token)
    call(base, "POST", "/v1/events", {"type": "schemathesis.seeded", "subject": "seed", "data": {"n": 1}}, api_key=key["key"])
    for name, value in [("SO_ST_ACCESS_TOKEN", token), ("SO_ST_API_KEY", key["key"]), ("SO_ST_EMAIL", email), ("SO_ST_PASSWORD", password)]:
        print(f"{name}={shlex.quote(value)}")


if __name__ == "__main__":
    main()

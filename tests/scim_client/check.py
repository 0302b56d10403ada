"""Runs scim2-tester's compliance checks against a SCIM server and prints the results as
one JSON list: [{"title", "status", "reason", "resource_type"}].

Usage: check.py <base_url> <bearer_token>
"""

import json
import sys

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import check_server


def main() -> None:
    base_url, token = sys.argv[1], sys.argv[2]
    http = httpx2.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    client = SyncSCIMClient(http)
    results = check_server(client)
    out = [
        {
            "title": r.title,
            "status": r.status.name,
            "reason": None if r.reason is None else str(r.reason)[:500],
            "resource_type": r.resource_type,
        }
        for r in results
    ]
    print(json.dumps(out))


if __name__ == "__main__":
    main()

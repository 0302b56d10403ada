#!/usr/bin/env python3
"""Prints "<accounts> <distinct userNames>" of a SCIM target, paging through /Users.
Usage: count_users.py BASE_URL TOKEN"""
import json
import sys
import urllib.request

base, token = sys.argv[1], sys.argv[2]
names, total, start = [], None, 1
while total is None or start <= total:
    req = urllib.request.Request(
        f"{base}/Users?startIndex={start}&count=1000&attributes=userName",
        headers={"Authorization": f"Bearer {token}"},
    )
    page = json.load(urllib.request.urlopen(req))
    total = page["totalResults"]
    found = page.get("Resources", [])
    if not found:
        break
    names += [u["userName"] for u in found]
    start += len(found)
print(len(names), len(set(names)))

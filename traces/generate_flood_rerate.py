#!/usr/bin/env python3
"""Synthetic request log of a flood-zone re-rating rehearsal (Python 3, stdlib only).

Every citizen logs in (POST /login), looks up the new premium (POST /fetch_premium), then
pays (POST /pay, about 98 %) or abandons (about 2 %); a few payers also move money by ACH
(POST /ach/transfer). Rows are written in the order requests *finished*, as access logs are,
so `timestamp` (the arrival time) is out of order within the second.

All values are synthetic: names from a short list, emails under example.com/.org/.net,
client IPs from the documentation ranges 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24,
fake JWTs with random signatures, and well-known *test* card numbers (Luhn-valid, never
issued). The output is deterministic for a given seed and size.

    python3 traces/generate_flood_rerate.py                      # the shipped sample
    python3 traces/generate_flood_rerate.py --citizens 1600000 --minutes 600 -o big.csv
"""

import argparse
import base64
import csv
import heapq
import datetime as dt
import json
import random
import sys

FIRST = ["ana", "ben", "chloe", "dev", "emma", "farid", "grace", "hugo", "ines", "jamal",
         "kai", "lena", "mateo", "nora", "omar", "priya", "quinn", "rosa", "sven", "tara"]
LAST = ["alvarez", "brown", "chen", "diallo", "evans", "fischer", "garcia", "haddad",
        "ito", "jones", "kowalski", "lopez", "moreau", "nguyen", "okafor", "patel"]
DOMAINS = ["example.com", "example.org", "example.net"]
NETS = ["192.0.2.", "198.51.100.", "203.0.113."]
# Published test card numbers (Visa, Mastercard, Visa, Amex): Luhn-valid, never issued.
CARDS = ["4111 1111 1111 1111", "5555 5555 5555 4444", "4012 8888 8888 1881",
         "3782 822463 10005"]
HOSTS = {"/login": "auth.hms.example", "/fetch_premium": "rating.hms.example",
         "/pay": "pay.hms.example", "/ach/transfer": "pay.hms.example"}
START = dt.datetime(2026, 11, 20, 14, 0, 0, tzinfo=dt.timezone.utc)


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fake_jwt(rng, user_id, email, iat):
    head = b64(b'{"alg":"HS256","typ":"JWT"}')
    body = b64(json.dumps({"sub": user_id, "email": email, "iat": iat},
                          separators=(",", ":")).encode())
    sig = b64(rng.getrandbits(256).to_bytes(32, "big"))
    return f"{head}.{body}.{sig}"


def latency(rng, path):
    if path == "/fetch_premium":
        return rng.uniform(50, 250)
    base = {"/login": 80, "/pay": 300, "/ach/transfer": 450}[path]
    return base * rng.lognormvariate(0, 0.35)


def citizen(rng, n, t):
    first, last = rng.choice(FIRST), rng.choice(LAST)
    user_id = f"c-{n:07d}"
    email = f"{first}.{last}{n}@{rng.choice(DOMAINS)}"
    ip = rng.choice(NETS) + str(rng.randint(1, 254))
    policy = f"FLD-2026-{rng.randint(0, 999999):06d}"
    ua = rng.choice(["Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
                     "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
                     "hms-portal/3.2 (Android 14)"])
    reqs = []

    def req(path, body, status):
        nonlocal t
        iat = int(START.timestamp() + t)
        headers = {"Content-Type": "application/json", "User-Agent": ua,
                   "X-Request-Id": f"{rng.getrandbits(64):016x}"}
        if path != "/login":
            headers["Authorization"] = "Bearer " + fake_jwt(rng, user_id, email, iat)
        lat = latency(rng, path)
        reqs.append((t, lat, path, user_id, email, ip, status, headers, body))
        t += lat / 1000 + rng.uniform(0.5, 6.0)  # think time

    if rng.random() < 0.02:  # a mistyped password first
        req("/login", {"email": email, "password": f"wrong-{rng.randint(0, 9999)}"}, 401)
    req("/login", {"email": email, "password": f"horse-battery-{rng.randint(0, 9999)}"}, 200)
    req("/fetch_premium", {"policy_id": policy, "zone": rng.choice(["AE", "VE", "X", "A"])}, 200)
    if rng.random() < 0.98:
        card = rng.choice(CARDS)
        req("/pay", {"policy_id": policy, "amount_cents": 74200, "card_number": card,
                     "exp": f"{rng.randint(1, 12):02d}/{rng.randint(27, 31)}",
                     "cardholder": f"{first.title()} {last.title()}"},
            201 if rng.random() > 0.01 else 402)
        if rng.random() < 0.03:
            req("/ach/transfer", {"policy_id": policy, "routing": "011000015",
                                  "account": f"{rng.randint(0, 10**10 - 1):010d}",
                                  "amount_cents": 74200}, 202)
    # else: abandoned after seeing the premium (no further request)
    return reqs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--citizens", type=int, default=500)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--seed", type=int, default=20261120)
    ap.add_argument("-o", "--output", default="-")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    span = a.minutes * 60
    out = sys.stdout if a.output == "-" else open(a.output, "w", newline="", encoding="utf-8")
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["timestamp", "method", "url", "host", "user_id", "email", "client_ip",
                "status", "latency_ms", "headers", "body"])

    def emit(row):
        t, lat, path, user_id, email, ip, status, headers, body = row
        ts = (START + dt.timedelta(seconds=t)).isoformat(timespec="milliseconds")
        w.writerow([ts.replace("+00:00", "Z"), "POST", path, HOSTS[path], user_id, email, ip,
                    status, f"{lat:.1f}", json.dumps(headers, separators=(",", ":")),
                    json.dumps(body, separators=(",", ":"))])

    # Rows are logged when the response went out, so arrival times are out of order within
    # the second. Citizens are walked in order of arrival and finished requests are flushed
    # through a heap, so memory stays small even for millions of rows.
    starts = sorted(rng.uniform(0, span * 0.93) for _ in range(a.citizens))
    pending = []
    seq = 0
    for n, start in enumerate(starts, 1):
        while pending and pending[0][0] < start:
            emit(heapq.heappop(pending)[2])
        for row in citizen(rng, n, start):
            heapq.heappush(pending, (row[0] + row[1] / 1000, seq, row))
            seq += 1
    while pending:
        emit(heapq.heappop(pending)[2])
    if out is not sys.stdout:
        out.close()


if __name__ == "__main__":
    main()

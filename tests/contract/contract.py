"""Helpers of tests/contract/run.sh: the test database, the API's address, and
the data the schemathesis runs start from. Standard library and psycopg only.

    contract.py db create|drop ADMIN_URL NAME
    contract.py listening LOG_FILE TIMEOUT_SECONDS   (prints host:port)
    contract.py seed BASE_URL                       (prints shell assignments)
    contract.py fetch URL FILE
"""

import json
import re
import sys
import time
import urllib.error
import urllib.request
import uuid


def database(action: str, admin_url: str, name: str) -> None:
    import psycopg  # installed by run.sh in its virtualenv

    if not re.fullmatch(r"[a-z0-9_]+", name):
        sys.exit(f"bad database name {name!r}")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if action == "create":
            conn.execute(f'create database "{name}"')
        else:
            conn.execute(f'drop database if exists "{name}" with (force)')


def listening(log_file: str, timeout: float) -> None:
    """Waits for the API's `listening` JSON log line; prints its address."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(log_file, encoding="utf-8", errors="replace") as log:
                for line in log:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    fields = entry.get("fields", entry)
                    if fields.get("message") == "listening" and fields.get("addr"):
                        print(fields["addr"])
                        return
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    sys.exit(f"the API did not log `listening` within {timeout} s; see {log_file}")


class Api:
    def __init__(self, base_url: str):
        self.base = base_url.rstrip("/") + "/api/v1"

    def call(self, method: str, path: str, body=None, token=None, expect=(200, 201)):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        if status not in expect:
            sys.exit(f"{method} {path}: expected {expect}, got {status}: {text}")
        return json.loads(text) if text else None


def seed(base_url: str) -> None:
    """Two organizations, so that neither run changes what the other sees:
    an ADMIN with a spare user and a dashboard with a KPI and a value; and
    a USER who belongs to a team and owns a dashboard with a KPI, a value,
    an action and a comment (their organization's ADMIN only sets it up)."""
    api = Api(base_url)
    tag = uuid.uuid4().hex[:8]
    password = f"contract-{uuid.uuid4().hex}"

    def signup(who: str) -> dict:
        return api.call(
            "POST",
            "/auth/signup",
            {
                "email": f"{who}-{tag}@example.com",
                "password": password,
                "full_name": f"Contract {who}",
                "organization_name": f"Contract {who} {tag}",
            },
        )

    def add_user(token: str, who: str) -> tuple[dict, str]:
        email = f"{who}-{tag}@example.com"
        user = api.call(
            "POST",
            "/users",
            {"email": email, "full_name": f"Contract {who}", "password": password, "role": "USER"},
            token,
        )
        login = api.call("POST", "/auth/login", {"email": email, "password": password})
        return user, login["access_token"]

    def board_with_data(token: str, process: str, team_id=None) -> None:
        body = {"title": f"{process} usine", "process_name": process}
        if team_id:
            body["team_id"] = team_id
        dashboard = api.call("POST", "/dashboards", body, token)
        kpi = api.call(
            "POST",
            f"/dashboards/{dashboard['id']}/kpis",
            {
                "code": f"{process[:3].upper()}-{tag}",
                "name": "Taux de rebut",
                "unit": "%",
                "frequency": "MONTHLY",
                "direction": "DOWN_IS_BETTER",
                "threshold_green": 2,
                "threshold_orange": 4,
                "threshold_red": 6,
                "is_strategic": True,
            },
            token,
        )
        api.call(
            "POST",
            f"/kpis/{kpi['id']}/values",
            {"period_start": "2025-01-01", "value": 5.5, "comment": "four lines stopped"},
            token,
        )
        action = api.call(
            "POST",
            f"/kpis/{kpi['id']}/actions",
            {"title": "Retrain the night shift", "due_date": "2025-03-31"},
            token,
        )
        api.call("POST", f"/actions/{action['id']}/comments", {"content": "started"}, token)

    admin = signup("admin")
    admin_token = admin["access_token"]
    spare, _ = add_user(admin_token, "spare")
    board_with_data(admin_token, "Logistique")

    owner = signup("owner")
    owner_token = owner["access_token"]
    user, user_token = add_user(owner_token, "user")
    team = api.call("POST", "/teams", {"name": f"Qualité {tag}"}, owner_token)
    api.call("POST", f"/teams/{team['id']}/members", {"user_id": user["id"]}, owner_token)
    board_with_data(user_token, "Qualité", team["id"])

    print(f"ADMIN_TOKEN={admin_token}")
    print(f"ADMIN_ID={admin['user']['id']}")
    print(f"SPARE_ID={spare['id']}")
    print(f"USER_TOKEN={user_token}")
    print(f"USER_ID={user['id']}")
    print(f"TEAM_ID={team['id']}")


def main() -> None:
    command, *args = sys.argv[1:] or ["help"]
    if command == "db" and len(args) == 3:
        database(*args)
    elif command == "listening" and len(args) == 2:
        listening(args[0], float(args[1]))
    elif command == "seed" and len(args) == 1:
        seed(args[0])
    elif command == "fetch" and len(args) == 2:
        with urllib.request.urlopen(args[0], timeout=30) as response, open(args[1], "wb") as out:
            out.write(response.read())
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

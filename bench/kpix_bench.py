#!/usr/bin/env python3
"""Set-up and reporting helpers of the kpix benchmarks (standard library only,
except `xlsx`, which needs xlsxwriter).

  kpix_bench.py signup URL EMAIL PASSWORD            -> JSON {token, user_id, organization_id}
  kpix_bench.py users URL TOKEN N PASSWORD OUT       -> creates N users, writes "email password" lines
  kpix_bench.py login-check URL USERS_FILE            -> logs each user in once (all must be 200)
  kpix_bench.py kpis URL TOKEN DASHBOARDS PER PREFIX OUT
                                                       -> dashboards x KPIs (DAILY), writes JSON
  kpix_bench.py csv KPIS_JSON PERIODS START OUT       -> kpi_code,period,value (KPI-major)
  kpix_bench.py copy-csv KPIS_JSON PERIODS START ORG USER OUT
                                                       -> every kpi_value column, same rows as `csv`
  kpix_bench.py xlsx KPIS_JSON NKPIS PERIODS START OUT -> the same shape as XLSX, real date cells
  kpix_bench.py upload URL TOKEN FILE                 -> uploads, polls to the end, prints JSON
  kpix_bench.py wrk-summary FILE...                   -> reads the WRKJSON lines of wrk runs
"""
import datetime as dt
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse
import uuid

# ---------------------------------------------------------------- HTTP


class Client:
    """One keep-alive connection; JSON in and out."""

    def __init__(self, url, token=None):
        parsed = urllib.parse.urlparse(url)
        self.host, self.port = parsed.hostname, parsed.port
        self.token = token
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=600)

    def request(self, method, path, body=None, headers=None, raw=None):
        headers = dict(headers or {})
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        for attempt in range(2):
            try:
                self.conn.request(method, "/api/v1" + path, body=data, headers=headers)
                response = self.conn.getresponse()
                payload = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
                if attempt:
                    raise
        parsed = json.loads(payload) if payload else None
        return response.status, parsed

    def ok(self, method, path, body=None, expect=(200, 201)):
        status, parsed = self.request(method, path, body)
        if status not in expect:
            sys.exit(f"{method} {path}: {status} {parsed}")
        return parsed


def parallel(items, work, threads=4):
    """Runs work(client_index, item) over items with a few threads; keeps order."""
    results = [None] * len(items)
    lock = threading.Lock()
    cursor = [0]

    def run(index):
        while True:
            with lock:
                i = cursor[0]
                cursor[0] += 1
            if i >= len(items):
                return
            results[i] = work(index, items[i])

    pool = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return results


# ---------------------------------------------------------------- set-up


def signup(url, email, password):
    status, body = Client(url).request(
        "POST", "/auth/signup",
        {"email": email, "password": password, "full_name": "Bench Admin", "organization_name": "Bench"})
    if status != 201:
        sys.exit(f"signup: {status} {body}")
    print(json.dumps({"token": body["access_token"], "user_id": body["user"]["id"],
                      "organization_id": body["user"]["organization_id"]}))


def users(url, token, n, password, out):
    clients = [Client(url, token) for _ in range(4)]
    emails = [f"bench-user-{i:04d}@example.com" for i in range(int(n))]
    parallel(emails, lambda t, e: clients[t].ok(
        "POST", "/users", {"email": e, "full_name": e.split("@")[0], "password": password, "role": "USER"}))
    with open(out, "w") as f:
        for e in emails:
            f.write(f"{e} {password}\n")


def login_check(url, users_file):
    pairs = [line.split() for line in open(users_file) if line.strip()]
    clients = [Client(url) for _ in range(4)]

    def login(t, pair):
        status, body = clients[t].request("POST", "/auth/login", {"email": pair[0], "password": pair[1]})
        return status

    statuses = parallel(pairs, login)
    bad = [s for s in statuses if s != 200]
    if bad:
        sys.exit(f"login check: {len(bad)} of {len(pairs)} logins failed: {bad[:5]}")
    print(f"{len(pairs)} users log in", file=sys.stderr)


def kpis(url, token, dashboards, per, prefix, out):
    dashboards, per = int(dashboards), int(per)
    clients = [Client(url, token) for _ in range(4)]
    dash_ids = parallel(list(range(dashboards)), lambda t, i: clients[t].ok(
        "POST", "/dashboards", {"title": f"Bench dashboard {i}", "process_name": "bench"})["id"])
    specs = [(d, dash_ids[d], d * per + k) for d in range(dashboards) for k in range(per)]

    def create(t, spec):
        _, dash_id, n = spec
        body = {"code": f"{prefix}{n:04d}", "name": f"Bench KPI {n}", "frequency": "DAILY",
                "direction": "UP_IS_BETTER", "threshold_green": 80, "threshold_orange": 50,
                "threshold_red": 20, "unit": "%"}
        row = clients[t].ok("POST", f"/dashboards/{dash_id}/kpis", body)
        return {"id": row["id"], "code": row["code"], "dashboard_id": dash_id}

    rows = parallel(specs, create)
    with open(out, "w") as f:
        json.dump({"dashboards": dash_ids, "kpis": rows}, f)
    print(f"{len(dash_ids)} dashboards, {len(rows)} KPIs", file=sys.stderr)


# ---------------------------------------------------------------- files


def value_of(k, p):
    """A deterministic value 0..100 with 2 decimals, spread over all statuses."""
    return ((k * 7919 + p * 104729) % 10001) / 100


def load_kpis(path):
    return json.load(open(path))["kpis"]


def csv_file(kpis_json, periods, start, out):
    rows = load_kpis(kpis_json)
    start = dt.date.fromisoformat(start)
    days = [(start + dt.timedelta(days=p)).isoformat() for p in range(int(periods))]
    with open(out, "w", buffering=1 << 20) as f:
        f.write("kpi_code,period,value\n")
        for k, kpi in enumerate(rows):
            code = kpi["code"]
            f.write("".join(f"{code},{d},{value_of(k, p):.2f}\n" for p, d in enumerate(days)))


def uuid7():
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64 | 0b10 << 62 | (rand & ((1 << 62) - 1))
    return uuid.UUID(int=value)


def copy_csv(kpis_json, periods, start, org, user, out):
    """The rows of `csv`, with every column the worker writes (status computed
    as the app does for green 80 / orange 50 / red 20, UP_IS_BETTER)."""
    rows = load_kpis(kpis_json)
    start = dt.date.fromisoformat(start)
    days = [(start + dt.timedelta(days=p)).isoformat() for p in range(int(periods))]
    job = str(uuid7())
    # id, organization_id, kpi_id, period_start, period_end, value, status, critical,
    # threshold_green, threshold_orange, threshold_red, direction, comment, created_by, import_job_id,
    # import_row (the file's line: header on line 1, KPI by KPI as `csv` writes them)
    with open(out, "w", buffering=1 << 20) as f:
        for k, kpi in enumerate(rows):
            kid = kpi["id"]
            lines = []
            for p, d in enumerate(days):
                v = value_of(k, p)
                status = "GREEN" if v >= 80 else "ORANGE" if v >= 50 else "RED"
                critical = "t" if status == "RED" and v <= 20 else "f"
                line = 2 + k * len(days) + p
                lines.append(f"{uuid7()},{org},{kid},{d},{d},{v:.2f},{status},{critical},80,50,20,UP_IS_BETTER,,{user},{job},{line}\n")
            f.write("".join(lines))


def xlsx_file(kpis_json, nkpis, periods, start, out):
    import xlsxwriter  # pip install xlsxwriter

    rows = load_kpis(kpis_json)[: int(nkpis)]
    start = dt.date.fromisoformat(start)
    days = [dt.datetime.combine(start + dt.timedelta(days=p), dt.time()) for p in range(int(periods))]
    book = xlsxwriter.Workbook(out, {"constant_memory": True})
    sheet = book.add_worksheet("values")
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, ["kpi_code", "period", "value"])
    r = 1
    for k, kpi in enumerate(rows):
        for p, d in enumerate(days):
            sheet.write_string(r, 0, kpi["code"])
            sheet.write_datetime(r, 1, d, date_format)
            sheet.write_number(r, 2, value_of(k, p))
            r += 1
    book.close()


# ---------------------------------------------------------------- import


def upload(url, token, path):
    """Uploads with a streamed multipart body, polls the job until it ends."""
    boundary = "kpixbench" + uuid.uuid4().hex
    name = os.path.basename(path)
    head = (f"--{boundary}\r\ncontent-disposition: form-data; name=\"mode\"\r\n\r\natomic\r\n"
            f"--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"content-type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = os.path.getsize(path)
    client = Client(url, token)
    started = time.monotonic()
    conn = client.conn
    conn.putrequest("POST", "/api/v1/imports/kpi-values")
    conn.putheader("authorization", f"Bearer {token}")
    conn.putheader("content-type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("content-length", str(len(head) + size + len(tail)))
    conn.endheaders()
    conn.send(head)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            conn.send(chunk)
    conn.send(tail)
    response = conn.getresponse()
    job = json.loads(response.read())
    uploaded = time.monotonic() - started
    if response.status != 202:
        sys.exit(f"upload: {response.status} {job}")
    job_id = job["id"]
    print(f"  uploaded {size / 1e6:.1f} MB in {uploaded:.2f} s; job {job_id}", file=sys.stderr)
    last_print = 0.0
    deadline = started + float(os.environ.get("KPIX_BENCH_IMPORT_TIMEOUT", "900"))
    while True:
        status, job = client.request("GET", f"/imports/jobs/{job_id}")
        now = time.monotonic()
        if job["status"] in ("SUCCESS", "FAILED"):
            break
        if now - last_print >= 2:
            print(f"  {now - started:6.1f} s  {job['status']:<8} rows_processed {job['rows_processed']:>9,}",
                  file=sys.stderr)
            last_print = now
        if now > deadline:
            sys.exit(f"import did not finish within the timeout: {job}")
        time.sleep(0.1)
    total = now - started
    print(f"  {total:6.1f} s  {job['status']:<8} rows_processed {job['rows_processed']:>9,}", file=sys.stderr)
    ts = lambda s: dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    print(json.dumps({
        "status": job["status"], "error": job.get("error_message"),
        "rows_total": job["rows_total"], "rows_inserted": job["rows_inserted"],
        "rows_updated": job["rows_updated"], "rows_rejected": job["rows_rejected"],
        "upload_s": round(uploaded, 3), "end_to_end_s": round(total, 3),
        "queue_wait_s": round((ts(job["started_at"]) - ts(job["created_at"])).total_seconds(), 3),
        # finished_at is now() of the job's write transaction (its start), so the
        # processing time is measured here: from the 202 to SUCCESS seen by polling
        "after_202_s": round(total - uploaded, 3),
        "file_bytes": size,
    }))


# ---------------------------------------------------------------- wrk


def wrk_summary(*paths):
    """Prints one JSON object per wrk run from the WRKJSON line its Lua done() wrote."""
    for path in paths:
        for line in open(path):
            if line.startswith("WRKJSON "):
                print(line[len("WRKJSON "):].strip())


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {
        "signup": signup, "users": users, "login-check": login_check, "kpis": kpis,
        "csv": csv_file, "copy-csv": copy_csv, "xlsx": xlsx_file, "upload": upload,
        "wrk-summary": wrk_summary,
    }[command](*args)

//! Test harness: starts the real `kpix-api` (and `kpix-worker`) binaries on
//! port 0 against a fresh PostgreSQL database, and talks HTTP to them; or,
//! for the tests of what a request answers, calls the API's router in process
//! ([`RouterApp`], see [`in_process`]) with the same helpers ([`ApiClient`]).
//!
//! Every test spawns its own [`TestApp`]: its own database
//! (`kpix_test_<uuid>`, cloned from a migrated template: see [`database`]),
//! storage folder, JWT secret and API process, so tests run in parallel and
//! never see each other's data. Dropping the app kills the processes and
//! drops the database.
//!
//! ```no_run
//! # async fn example() {
//! use kpix_tests::{TestApp, assert_problem};
//! let app = TestApp::spawn().await;
//! let admin = app.signup("Acme").await;
//! let user = app.create_user(&admin, "USER").await;
//! let resp = app.post_json(&user, "/teams", &serde_json::json!({"name": "Ops"})).await;
//! assert_problem(&resp, 403);
//! # }
//! ```
//!
//! Environment:
//! - `KPIX_TEST_ADMIN_URL`: a PostgreSQL URL allowed to create databases
//!   (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! - `KPIX_API_BIN` / `KPIX_WORKER_BIN`: the binaries to run (default: next to
//!   the test executable, as `cargo build --bins` leaves them);
//! - `KPIX_TEST_KEEP_DB=1`: keep the test databases for inspection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod database;
pub mod fixtures;
pub mod in_process;

pub use database::{admin_url, with_database};
pub use in_process::RouterApp;

use std::{
    future::Future,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use rand::{Rng, distr::Alphanumeric};
use reqwest::{Method, RequestBuilder, header::HeaderMap};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sqlx::{PgPool, postgres::PgPoolOptions};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
    sync::oneshot,
};
use uuid::Uuid;

use crate::database::{create_database, drop_database_blocking};

/// Default URL of the PostgreSQL server used to create test databases.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// How long the API may take to print its `listening` line.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(30);
/// Password given to the users the helpers create.
pub const DEFAULT_PASSWORD: &str = "correct horse battery staple";

/// Environment variables passed through to the processes under test; every
/// other variable of the test's environment is withheld, so a developer's
/// `DATABASE_URL` or `RUST_LOG` cannot change what a test sees.
const PASSED_THROUGH: &[&str] = &["PATH", "HOME", "TMPDIR", "LANG", "TZ"];

// ---------------------------------------------------------------------------
// binaries

/// The `kpix-api` binary: `KPIX_API_BIN`, else next to the test executable.
pub fn api_binary() -> PathBuf {
    binary("kpix-api", "KPIX_API_BIN")
}

/// The `kpix-worker` binary: `KPIX_WORKER_BIN`, else next to the test executable.
pub fn worker_binary() -> PathBuf {
    binary("kpix-worker", "KPIX_WORKER_BIN")
}

fn binary(name: &str, env_override: &str) -> PathBuf {
    let path = match std::env::var_os(env_override) {
        Some(path) => PathBuf::from(path),
        None => {
            // target/debug/deps/<test>-<hash> → target/debug/<name>
            let exe = std::env::current_exe().expect("current test executable");
            let mut dir = exe
                .parent()
                .expect("test executable has a folder")
                .to_path_buf();
            if dir.ends_with("deps") {
                dir.pop();
            }
            dir.join(name)
        }
    };
    assert!(
        path.is_file(),
        "{name} not found at {}: run `cargo build --bins` first (or set {env_override})",
        path.display()
    );
    path
}

/// A command for a binary under test with a clean environment: only
/// [`PASSED_THROUGH`] variables, then `env` (an empty value leaves the
/// variable set but empty, which the configuration treats as unset).
pub fn clean_command(program: &Path, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(program);
    command.env_clear();
    for name in PASSED_THROUGH {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command.env("RUST_BACKTRACE", "1");
    for (name, value) in env {
        command.env(name, value);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// The result of a process that ran to its end.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `kpix-api` with exactly `env` (plus the pass-through variables) and
/// waits for it to exit: for the tests of refused configurations. Panics if it
/// is still running after `deadline` (it was expected to stop).
pub async fn run_api_to_exit(env: &[(&str, &str)], deadline: Duration) -> Finished {
    let child = clean_command(&api_binary(), env)
        .spawn()
        .expect("start kpix-api");
    match tokio::time::timeout(deadline, child.wait_with_output()).await {
        Ok(output) => {
            let output = output.expect("wait for kpix-api");
            Finished {
                status: output.status,
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            }
        }
        // the child is dropped with the timed-out future: kill_on_drop stops it
        Err(_) => panic!("kpix-api was still running after {deadline:?}; it was expected to exit"),
    }
}

/// A random string of `len` ASCII letters and digits.
pub fn random_alphanumeric(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

// ---------------------------------------------------------------------------
// processes

/// Output of a child process, kept in memory as it arrives.
#[derive(Debug, Clone, Default)]
pub struct LogBuffer(Arc<Mutex<String>>);

impl LogBuffer {
    fn push_line(&self, line: &str) {
        let mut buffer = self.0.lock().unwrap_or_else(|e| e.into_inner());
        buffer.push_str(line);
        buffer.push('\n');
    }

    /// Everything printed so far, stdout and stderr interleaved by arrival.
    pub fn text(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The lines that are JSON objects (the JSON log format), parsed.
    pub fn json_lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(Value::is_object)
            .collect()
    }
}

/// Copies a pipe into `logs` line by line until EOF, so the child never
/// blocks on a full pipe; `on_line` sees each line (used to find `listening`).
fn drain<R>(pipe: R, logs: LogBuffer, mut on_line: impl FnMut(&str) + Send + 'static)
where
    R: AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut reader = BufReader::new(pipe);
        let mut raw = Vec::new();
        loop {
            raw.clear();
            match reader.read_until(b'\n', &mut raw).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&raw);
                    let line = line.trim_end_matches(['\n', '\r']);
                    logs.push_line(line);
                    on_line(line);
                }
            }
        }
    });
}

/// A running binary under test: its output is captured, and it is killed
/// when dropped.
#[derive(Debug)]
pub struct ChildProcess {
    name: &'static str,
    child: Child,
    logs: LogBuffer,
}

/// The handle of a `kpix-worker` started by [`TestApp::spawn_worker`].
pub type WorkerProcess = ChildProcess;

impl ChildProcess {
    /// Starts `command` (built by [`clean_command`]) and drains its output.
    fn start(name: &'static str, mut command: Command) -> (Self, oneshot::Receiver<String>) {
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let logs = LogBuffer::default();
        let (addr_tx, addr_rx) = oneshot::channel();
        let mut addr_tx = Some(addr_tx);
        if let Some(stdout) = child.stdout.take() {
            drain(stdout, logs.clone(), move |line| {
                if addr_tx.is_some()
                    && let Some(addr) = listening_addr(line)
                    && let Some(tx) = addr_tx.take()
                {
                    let _ = tx.send(addr);
                }
            });
        }
        if let Some(stderr) = child.stderr.take() {
            drain(stderr, logs.clone(), |_| {});
        }
        (Self { name, child, logs }, addr_rx)
    }

    /// Process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Everything the process printed so far.
    pub fn logs(&self) -> String {
        self.logs.text()
    }

    /// Its JSON log lines, parsed.
    pub fn log_lines(&self) -> Vec<Value> {
        self.logs.json_lines()
    }

    /// Waits until the output contains `needle`; panics with the output after
    /// `deadline`.
    pub async fn wait_for_log(&self, needle: &str, deadline: Duration) {
        let logs = self.logs.clone();
        let found = tokio::time::timeout(deadline, async {
            while !logs.text().contains(needle) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        if found.is_err() {
            panic!(
                "{} did not print {needle:?} within {deadline:?}; output:\n{}",
                self.name,
                self.logs()
            );
        }
    }

    /// Sends a signal to the process (no-op if it already exited).
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        if let Some(pid) = self.child.id() {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid fits i32"));
            // ESRCH: it exited meanwhile, which is fine
            let _ = nix::sys::signal::kill(pid, signal);
        }
    }

    /// SIGTERM: asks for a graceful stop. Use [`Self::wait`] to see it end.
    pub fn terminate(&self) {
        self.signal(nix::sys::signal::Signal::SIGTERM);
    }

    /// SIGKILL, then reaps the process: a crash, as far as the system is concerned.
    pub async fn kill(&mut self) -> ExitStatus {
        let _ = self.child.start_kill();
        self.child.wait().await.expect("reap killed process")
    }

    /// Waits for the process to exit; `None` if it still runs after `deadline`.
    pub async fn wait(&mut self, deadline: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(deadline, self.child.wait())
            .await
            .ok()
            .map(|status| status.expect("wait for process"))
    }

    /// The exit status if it has already exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

/// The `addr` of the API's `{"message":"listening","addr":"…"}` log line.
fn listening_addr(line: &str) -> Option<String> {
    let value: Value = serde_json::from_str(line).ok()?;
    let fields = value.get("fields").unwrap_or(&value);
    if fields.get("message")?.as_str()? != "listening" {
        return None;
    }
    Some(fields.get("addr")?.as_str()?.to_owned())
}

// ---------------------------------------------------------------------------
// the app

/// Someone signed in: their tokens and who they are.
#[derive(Debug, Clone)]
pub struct Session {
    /// The access token (JWT) sent as `Authorization: Bearer …`.
    pub token: String,
    pub refresh_token: String,
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub email: String,
    pub password: String,
    /// `ADMIN` or `USER`.
    pub role: String,
}

impl Session {
    /// Reads a session from a signup, login or refresh response body.
    pub fn from_token_response(body: &Value, email: &str, password: &str) -> Session {
        let text = |v: &Value| v.as_str().map(str::to_owned);
        let uuid = |v: &Value| v.as_str().and_then(|s| s.parse::<Uuid>().ok());
        let user = &body["user"];
        Session {
            token: text(&body["access_token"]).expect("access_token in token response"),
            refresh_token: text(&body["refresh_token"]).expect("refresh_token in token response"),
            user_id: uuid(&user["id"]).expect("user.id in token response"),
            organization_id: uuid(&user["organization_id"])
                .expect("user.organization_id in token response"),
            email: email.to_owned(),
            password: password.to_owned(),
            role: text(&user["role"]).expect("user.role in token response"),
        }
    }
}

/// A response, read completely.
#[derive(Debug, Clone)]
pub struct TestResponse {
    pub status: u16,
    pub headers: HeaderMap,
    /// The body parsed as JSON; `Null` when empty or not JSON.
    pub body: Value,
    /// The body as text.
    pub text: String,
}

impl TestResponse {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body deserialized into `T`; panics with the body if it does not fit.
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.body.clone()).unwrap_or_else(|e| {
            panic!(
                "cannot read body as {}: {e}\nbody: {}",
                std::any::type_name::<T>(),
                self.text
            )
        })
    }

    /// Panics with the body unless the status is `status`; returns `self`.
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status, status,
            "expected status {status}, got {}: {}",
            self.status, self.text
        );
        self
    }

    /// The `id` field of the body as a UUID.
    #[track_caller]
    pub fn id(&self) -> Uuid {
        self.body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no id in body: {}", self.text))
    }

    /// The URL of the `Link: <…>; rel="next"` header, if any.
    pub fn next_link(&self) -> Option<String> {
        let link = self.header("link")?;
        link.split(',').find_map(|part| {
            let (target, params) = part.split_once(';')?;
            params
                .split(';')
                .any(|p| {
                    let p = p.trim();
                    p == "rel=\"next\"" || p == "rel=next"
                })
                .then(|| {
                    target
                        .trim()
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_owned()
                })
        })
    }
}

/// Checks an RFC 9457 problem: the status, the `application/problem+json`
/// content type, and the fields `type`, `title`, `status`, `detail`, `code`
/// (plus `errors: [{field, message}]` when present). Returns the `code`.
#[track_caller]
pub fn assert_problem(resp: &TestResponse, status: u16) -> &str {
    assert_eq!(
        resp.status, status,
        "expected a {status} problem, got {}: {}",
        resp.status, resp.text
    );
    let content_type = resp.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/problem+json"),
        "expected content-type application/problem+json, got {content_type:?}: {}",
        resp.text
    );
    let body = &resp.body;
    for field in ["type", "title", "detail", "code"] {
        assert!(
            body[field].as_str().is_some_and(|s| !s.is_empty()),
            "problem field {field:?} missing or empty: {}",
            resp.text
        );
    }
    assert_eq!(
        body["status"].as_u64(),
        Some(u64::from(status)),
        "problem status field: {}",
        resp.text
    );
    if let Some(errors) = body.get("errors") {
        let errors = errors.as_array().expect("problem errors is an array");
        for error in errors {
            assert!(
                error["field"].is_string() && error["message"].is_string(),
                "problem errors entries are {{field, message}}: {}",
                resp.text
            );
        }
    }
    body["code"].as_str().unwrap_or_default()
}

/// Checks a 422 problem whose `errors` name `field`.
#[track_caller]
pub fn assert_invalid_field(resp: &TestResponse, field: &str) {
    assert_problem(resp, 422);
    let named = resp.body["errors"]
        .as_array()
        .is_some_and(|errors| errors.iter().any(|e| e["field"] == field));
    assert!(named, "expected an error on field {field:?}: {}", resp.text);
}

/// Waits until some session of the test's database waits on a lock: the
/// request under test has reached the row another transaction holds.
pub async fn until_a_session_waits_on_a_lock(db: &PgPool, deadline: Duration) {
    poll_until(deadline, || async {
        let waiting: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity \
             where datname = current_database() and wait_event_type = 'Lock'",
        )
        .fetch_one(db)
        .await
        .expect("read pg_stat_activity");
        (waiting > 0).then_some(())
    })
    .await;
}

/// Calls `f` until it returns `Some`, waiting a little longer between calls
/// each time; panics if `deadline` passes first. Use instead of sleeps.
pub async fn poll_until<F, Fut, T>(deadline: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = tokio::time::Instant::now() + deadline;
    let mut pause = Duration::from_millis(20);
    loop {
        if let Some(value) = f().await {
            return value;
        }
        if tokio::time::Instant::now() >= end {
            panic!("condition not met within {deadline:?}");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

static EMAIL_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh e-mail address, unique within the test process.
pub fn unique_email(prefix: &str) -> String {
    let n = EMAIL_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{prefix}-{n}-{}@example.com",
        &Uuid::now_v7().simple().to_string()[20..]
    )
}

/// A running `kpix-api` on its own database. The request helpers are those
/// of its [`ApiClient`], which it dereferences to.
#[derive(Debug)]
pub struct TestApp {
    pub addr: SocketAddr,
    /// URL of this test's own database.
    pub database_url: String,
    pub database_name: String,
    /// The folder behind `STORAGE_URL` (uploaded files land here).
    pub storage_dir: PathBuf,
    /// `file:///…` URL of [`Self::storage_dir`].
    pub storage_url: String,
    /// The API's `JWT_SECRET`, to forge or sign tokens in tests.
    pub jwt_secret: String,
    api: ApiClient,
    admin_url: String,
    process: ChildProcess,
    _storage: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.process.child.start_kill();
        drop_database_blocking(self.admin_url.clone(), self.database_name.clone());
    }
}

impl TestApp {
    /// Starts the API with the default test settings.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(&[]).await
    }

    /// Starts the API with extra or overriding environment variables, e.g.
    /// `&[("CORS_ALLOWED_ORIGINS", "https://app.example.com")]`. An empty
    /// value unsets a setting, as far as the configuration is concerned.
    pub async fn spawn_with(env: &[(&str, &str)]) -> TestApp {
        Self::spawn_on(&admin_url(), env).await
    }

    /// [`Self::spawn_with`] on the PostgreSQL server of `admin_url` (a
    /// [`PrivatePostgres`] a test may restart).
    pub async fn spawn_on(admin_url: &str, env: &[(&str, &str)]) -> TestApp {
        let admin_url = admin_url.to_owned();
        let database_name = create_database(&admin_url).await;
        let database_url = with_database(&admin_url, &database_name);
        let storage = tempfile::Builder::new()
            .prefix("kpix-test-storage-")
            .tempdir()
            .expect("create storage folder");
        let storage_dir = storage.path().to_path_buf();
        let storage_url = format!("file://{}", storage_dir.display());
        let jwt_secret = random_alphanumeric(48);

        let mut vars: Vec<(&str, &str)> = vec![
            ("DATABASE_URL", &database_url),
            ("STORAGE_URL", &storage_url),
            ("JWT_SECRET", &jwt_secret),
            ("BIND_ADDR", "127.0.0.1:0"),
            ("LOG_FORMAT", "json"),
            ("RUST_LOG", "info"),
        ];
        vars.retain(|(name, _)| !env.iter().any(|(n, _)| n == name));
        vars.extend_from_slice(env);
        let (mut api, addr_rx) =
            ChildProcess::start("kpix-api", clean_command(&api_binary(), &vars));

        let addr = tokio::select! {
            addr = addr_rx => match addr {
                Ok(addr) => addr,
                Err(_) => {
                    // stdout closed without the line: the process is ending
                    let status = api.wait(Duration::from_secs(5)).await;
                    panic!("kpix-api stopped before listening ({status:?}); output:\n{}", api.logs());
                }
            },
            status = api.child.wait() => {
                // let the drain tasks catch the last lines
                tokio::time::sleep(Duration::from_millis(100)).await;
                panic!("kpix-api exited before listening ({status:?}); output:\n{}", api.logs());
            }
            () = tokio::time::sleep(STARTUP_DEADLINE) => {
                panic!("kpix-api did not log `listening` within {STARTUP_DEADLINE:?}; output:\n{}", api.logs());
            }
        };
        let addr: SocketAddr = addr
            .parse()
            .unwrap_or_else(|e| panic!("bad listening addr {addr:?}: {e}"));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        TestApp {
            addr,
            database_url,
            database_name,
            storage_dir,
            storage_url,
            jwt_secret,
            api: ApiClient {
                base_url: format!("http://{addr}"),
                client,
                transport: Transport::Tcp,
            },
            admin_url,
            process: api,
            _storage: storage,
        }
    }

    /// Everything the API printed so far (JSON log lines, one per line), for
    /// assertions on audit lines such as `"audit":"login_failed"`.
    pub fn logs(&self) -> String {
        self.process.logs()
    }

    /// The API's JSON log lines, parsed.
    pub fn log_lines(&self) -> Vec<Value> {
        self.process.log_lines()
    }

    /// The API process, to signal or wait for it.
    pub fn api_process(&mut self) -> &mut ChildProcess {
        &mut self.process
    }

    /// A small pool on this test's database, for arranging or checking rows
    /// directly.
    pub async fn db(&self) -> PgPool {
        connect_test_database(&self.database_url).await
    }

    /// Starts a `kpix-worker` on the same database and storage.
    pub async fn spawn_worker(&self) -> WorkerProcess {
        self.spawn_worker_with(&[]).await
    }

    /// Starts a `kpix-worker` with extra or overriding environment variables.
    pub async fn spawn_worker_with(&self, env: &[(&str, &str)]) -> WorkerProcess {
        let mut vars: Vec<(&str, &str)> = vec![
            ("DATABASE_URL", &self.database_url),
            ("STORAGE_URL", &self.storage_url),
            ("WORKER_CONCURRENCY", "2"),
            ("WORKER_POLL_MILLIS", "200"),
            ("LOG_FORMAT", "json"),
            ("RUST_LOG", "info"),
        ];
        vars.retain(|(name, _)| !env.iter().any(|(n, _)| n == name));
        vars.extend_from_slice(env);
        ChildProcess::start("kpix-worker", clean_command(&worker_binary(), &vars)).0
    }
}

impl std::ops::Deref for TestApp {
    type Target = ApiClient;

    fn deref(&self) -> &ApiClient {
        &self.api
    }
}

/// A small pool on a test's database, for arranging or checking rows directly.
pub async fn connect_test_database(database_url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .connect(database_url)
        .await
        .expect("connect to the test database")
}

/// Sends requests to the API under test and reads the whole responses: over
/// TCP to a [`TestApp`]'s process, or in this process to the router of a
/// [`RouterApp`]. The helpers (sessions, JSON requests, users and teams) are
/// the same either way, so a test reads the same whichever it runs against.
#[derive(Debug)]
pub struct ApiClient {
    /// The origin requests go to, without the `/api/v1` prefix
    /// (`http://127.0.0.1:<port>` for a process).
    pub base_url: String,
    /// Builds the requests (and sends them, over TCP).
    pub client: reqwest::Client,
    transport: Transport,
}

#[derive(Debug)]
enum Transport {
    Tcp,
    /// Requests go straight to the router: no process, no socket.
    Router(axum::Router),
}

impl ApiClient {
    // -- requests ----------------------------------------------------------

    /// The absolute URL of `path`: relative to `/api/v1` unless it starts with
    /// `/health`, `/metrics` or `/api/`, or is already absolute.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            return path.to_owned();
        }
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        if path.starts_with("/health") || path.starts_with("/metrics") || path.starts_with("/api/")
        {
            format!("{}{path}", self.base_url)
        } else {
            format!("{}/api/v1{path}", self.base_url)
        }
    }

    /// Resolves a `Link` target as a client would (RFC 3986): an absolute
    /// path is taken from the server's origin, not from `/api/v1`.
    pub fn resolve_link(&self, target: &str) -> String {
        if target.starts_with("http://") || target.starts_with("https://") {
            target.to_owned()
        } else if target.starts_with('/') {
            format!("{}{target}", self.base_url)
        } else {
            format!("{}/api/v1/{target}", self.base_url)
        }
    }

    /// The HTTP client, for odd requests (no token, bad content type, raw bodies).
    pub fn raw(&self) -> &reqwest::Client {
        &self.client
    }

    /// An unauthenticated request builder for `path` (see [`Self::url`]).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// A request builder carrying `session`'s access token.
    pub fn authed(&self, session: &Session, method: Method, path: &str) -> RequestBuilder {
        self.request(method, path).bearer_auth(&session.token)
    }

    /// Sends a request and reads the whole response.
    pub async fn send(&self, request: RequestBuilder) -> TestResponse {
        let (status, headers, text) = match &self.transport {
            Transport::Tcp => {
                let response = request.send().await.expect("send request");
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let text = response.text().await.expect("read response body");
                (status, headers, text)
            }
            Transport::Router(router) => {
                let request = request.build().expect("a well-formed request");
                in_process::call(router, request).await
            }
        };
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        TestResponse {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, session: &Session, path: &str) -> TestResponse {
        self.send(self.authed(session, Method::GET, path)).await
    }

    pub async fn post_json(&self, session: &Session, path: &str, body: &Value) -> TestResponse {
        self.send(self.authed(session, Method::POST, path).json(body))
            .await
    }

    pub async fn patch_json(&self, session: &Session, path: &str, body: &Value) -> TestResponse {
        self.send(self.authed(session, Method::PATCH, path).json(body))
            .await
    }

    pub async fn put_json(&self, session: &Session, path: &str, body: &Value) -> TestResponse {
        self.send(self.authed(session, Method::PUT, path).json(body))
            .await
    }

    pub async fn delete(&self, session: &Session, path: &str) -> TestResponse {
        self.send(self.authed(session, Method::DELETE, path)).await
    }

    /// Any method as `session`, with a JSON body when there is one: for the
    /// tests that run one check over several methods.
    pub async fn send_json(
        &self,
        session: &Session,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> TestResponse {
        let mut request = self.authed(session, method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }

    /// GET without a token.
    pub async fn get_anon(&self, path: &str) -> TestResponse {
        self.send(self.request(Method::GET, path)).await
    }

    /// POST a JSON body without a token.
    pub async fn post_json_anon(&self, path: &str, body: &Value) -> TestResponse {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    /// POST a raw body with the given content type (malformed JSON and such).
    pub async fn post_raw(
        &self,
        session: Option<&Session>,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> TestResponse {
        let mut request = self
            .request(Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        if let Some(session) = session {
            request = request.bearer_auth(&session.token);
        }
        self.send(request).await
    }

    // -- users -------------------------------------------------------------

    /// Signs up a new organization; its first user is an ADMIN.
    pub async fn signup(&self, org_name: &str) -> Session {
        let email = unique_email("admin");
        let resp = self
            .post_json_anon(
                "/auth/signup",
                &json!({
                    "email": email,
                    "password": DEFAULT_PASSWORD,
                    "full_name": "Ada Admin",
                    "organization_name": org_name,
                }),
            )
            .await;
        resp.assert_status(201);
        Session::from_token_response(&resp.body, &email, DEFAULT_PASSWORD)
    }

    /// `POST /auth/login`.
    pub async fn login(&self, email: &str, password: &str) -> TestResponse {
        self.post_json_anon(
            "/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Logs in, expecting success.
    pub async fn login_session(&self, email: &str, password: &str) -> Session {
        let resp = self.login(email, password).await;
        resp.assert_status(200);
        Session::from_token_response(&resp.body, email, password)
    }

    /// `POST /auth/refresh`.
    pub async fn refresh(&self, refresh_token: &str) -> TestResponse {
        self.post_json_anon("/auth/refresh", &json!({"refresh_token": refresh_token}))
            .await
    }

    /// Creates a user of `admin`'s organization (`role` is `ADMIN` or `USER`)
    /// and logs them in.
    pub async fn create_user(&self, admin: &Session, role: &str) -> Session {
        let email = unique_email(&role.to_lowercase());
        let resp = self
            .post_json(
                admin,
                "/users",
                &json!({
                    "email": email,
                    "full_name": format!("{role} user"),
                    "password": DEFAULT_PASSWORD,
                    "role": role,
                }),
            )
            .await;
        resp.assert_status(201);
        self.login_session(&email, DEFAULT_PASSWORD).await
    }

    /// Creates a team; returns its id.
    pub async fn create_team(&self, admin: &Session, name: &str) -> Uuid {
        let resp = self
            .post_json(admin, "/teams", &json!({"name": name}))
            .await;
        resp.assert_status(201);
        resp.id()
    }

    /// Adds a user to a team, expecting success.
    pub async fn add_team_member(&self, admin: &Session, team_id: Uuid, user_id: Uuid) {
        self.post_json(
            admin,
            &format!("/teams/{team_id}/members"),
            &json!({"user_id": user_id}),
        )
        .await
        .assert_status(201);
    }
}

// ---------------------------------------------------------------------------
// a PostgreSQL server of the test's own

/// A PostgreSQL server of one test, on a free port, that it may restart or
/// stop without disturbing the other tests (which share the machine's
/// server). Run as the `postgres` system user (initdb refuses root), with the
/// binaries of the machine's PostgreSQL 15. Stopped and deleted when dropped.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
}

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

impl PrivatePostgres {
    pub fn start() -> PrivatePostgres {
        let dir = tempfile::Builder::new()
            .prefix("kpix-test-pg-")
            .tempdir()
            .expect("a folder for the server");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        run_as_postgres(
            &["chown", "-R", "postgres", &dir.path().display().to_string()],
            true,
        );
        let data = dir.path().join("data");
        run_as_postgres(
            &[
                &format!("{PG_BIN}/initdb"),
                "-D",
                &data.display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
            ],
            false,
        );
        let server = PrivatePostgres { dir, port };
        server.pg_ctl("start");
        server
    }

    /// The URL of its `postgres` database, allowed to create databases.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops it (fast: open sessions are ended, as by a server restart) and
    /// starts it again.
    pub fn restart(&self) {
        self.pg_ctl("restart");
    }

    /// Stops it (fast); [`Self::start_again`] brings it back.
    pub fn stop(&self) {
        self.pg_ctl("stop");
    }

    pub fn start_again(&self) {
        self.pg_ctl("start");
    }

    fn pg_ctl(&self, action: &str) {
        let dir = self.dir.path().display().to_string();
        run_as_postgres(
            &[
                &format!("{PG_BIN}/pg_ctl"),
                "-D",
                &format!("{dir}/data"),
                "-l",
                &format!("{dir}/log"),
                "-m",
                "fast",
                "-w",
                "-o",
                &format!("-p {} -k {dir} -c listen_addresses=127.0.0.1", self.port),
                action,
            ],
            false,
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let dir = self.dir.path().display().to_string();
        let _ = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .args([
                &format!("{PG_BIN}/pg_ctl"),
                "-D",
                &format!("{dir}/data"),
                "-m",
                "immediate",
                "stop",
            ])
            .output();
    }
}

/// Runs a command as the `postgres` system user (or as is, for `chown`);
/// panics with its output when it fails.
fn run_as_postgres(args: &[&str], as_root: bool) {
    let mut command = if as_root {
        std::process::Command::new(args[0])
    } else {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--", args[0]]);
        c
    };
    let output = command
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        output.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

// ---------------------------------------------------------------------------
// an OTLP receiver

/// One span an [`OtlpReceiver`] received, with its service's name.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub service: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    /// Its `uri` attribute (request spans).
    pub uri: Option<String>,
}

/// An OTLP/HTTP trace receiver on loopback, as a collector would be: the
/// processes export to it (`OTEL_EXPORTER_OTLP_ENDPOINT`) and a test reads
/// the spans it got.
pub struct OtlpReceiver {
    pub endpoint: String,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    _server: tokio::task::JoinHandle<()>,
}

impl OtlpReceiver {
    pub async fn start() -> OtlpReceiver {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use prost::Message;
        let spans: Arc<Mutex<Vec<ReceivedSpan>>> = Arc::default();
        let received = spans.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| {
                let received = received.clone();
                async move {
                    let request = ExportTraceServiceRequest::decode(body.as_ref())
                        .expect("an OTLP protobuf export");
                    let mut found = Vec::new();
                    for resource in request.resource_spans {
                        let service = resource
                            .resource
                            .iter()
                            .flat_map(|r| &r.attributes)
                            .find(|a| a.key == "service.name")
                            .and_then(|a| a.value.as_ref())
                            .map(|v| format!("{:?}", v.value))
                            .unwrap_or_default();
                        for scope in resource.scope_spans {
                            for span in scope.spans {
                                let uri = span
                                    .attributes
                                    .iter()
                                    .find(|a| a.key == "uri")
                                    .and_then(|a| a.value.as_ref())
                                    .map(|v| format!("{:?}", v.value));
                                found.push(ReceivedSpan {
                                    uri,
                                    service: service.clone(),
                                    name: span.name,
                                    trace_id: hex_of(&span.trace_id),
                                    span_id: hex_of(&span.span_id),
                                    parent_span_id: hex_of(&span.parent_span_id),
                                });
                            }
                        }
                    }
                    received
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend(found);
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the receiver");
        let endpoint = format!("http://{}", listener.local_addr().expect("its address"));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the OTLP receiver");
        });
        OtlpReceiver {
            endpoint,
            spans,
            _server: server,
        }
    }

    /// The spans received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_are_rewritten() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }

    #[test]
    fn the_listening_line_is_found() {
        let line = r#"{"timestamp":"t","level":"INFO","message":"listening","addr":"127.0.0.1:4242","target":"kpix_api"}"#;
        assert_eq!(listening_addr(line).as_deref(), Some("127.0.0.1:4242"));
        assert_eq!(listening_addr(r#"{"message":"starting"}"#), None);
        assert_eq!(listening_addr("not json"), None);
    }

    #[test]
    fn next_links_are_read() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "link",
            r#"</api/v1/users?limit=2&cursor=abc>; rel="next""#.parse().unwrap(),
        );
        let resp = TestResponse {
            status: 200,
            headers,
            body: Value::Null,
            text: String::new(),
        };
        assert_eq!(
            resp.next_link().as_deref(),
            Some("/api/v1/users?limit=2&cursor=abc")
        );
    }
}

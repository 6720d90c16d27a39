//! Settings read from the environment (DESIGN §7), validated at start.
use std::{fmt, net::SocketAddr, time::Duration};

/// A setting that is missing or invalid; the message names it.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {name}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub reason: String,
}

fn invalid(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        name,
        reason: reason.into(),
    }
}

/// Reads one variable; `Ok(None)` when it is unset or empty.
fn var(name: &'static str) -> Result<Option<String>, ConfigError> {
    match std::env::var(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value.trim().to_owned())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(invalid(name, "is not valid UTF-8")),
    }
}

fn required(name: &'static str) -> Result<String, ConfigError> {
    var(name)?.ok_or_else(|| invalid(name, "is required"))
}

fn parsed<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    match var(name)? {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|e| invalid(name, format!("'{text}' is invalid: {e}"))),
    }
}

/// Log output: JSON lines for machines, pretty for a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Settings both processes need.
#[derive(Clone)]
pub struct CommonConfig {
    pub database_url: String,
    pub storage_url: String,
    pub log_format: LogFormat,
    pub otel_endpoint: Option<String>,
    pub max_upload_bytes: u64,
    pub max_import_rows: usize,
    pub database_max_connections: u32,
}

impl fmt::Debug for CommonConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommonConfig")
            .field("database_url", &redact_url(&self.database_url))
            .field("storage_url", &self.storage_url)
            .field("log_format", &self.log_format)
            .field("otel_endpoint", &self.otel_endpoint)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("max_import_rows", &self.max_import_rows)
            .field("database_max_connections", &self.database_max_connections)
            .finish()
    }
}

/// Hides the password of a connection URL for logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "<unparsable url>".to_owned(),
    }
}

impl CommonConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let database_url = required("DATABASE_URL")?;
        if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return Err(invalid(
                "DATABASE_URL",
                "must be a postgres:// or postgresql:// URL",
            ));
        }
        let storage_url = match var("STORAGE_URL")? {
            Some(url) => url,
            None => {
                let dir = std::env::current_dir()
                    .map_err(|e| invalid("STORAGE_URL", format!("no default: {e}")))?
                    .join(".data/uploads");
                format!("file://{}", dir.display())
            }
        };
        let log_format = match var("LOG_FORMAT")?.as_deref() {
            None | Some("json") => LogFormat::Json,
            Some("pretty") | Some("text") => LogFormat::Pretty,
            Some(other) => {
                return Err(invalid(
                    "LOG_FORMAT",
                    format!("'{other}' is not one of json, pretty"),
                ));
            }
        };
        let max_upload_bytes = parsed("MAX_UPLOAD_BYTES", 50 * 1024 * 1024_u64)?;
        if max_upload_bytes == 0 {
            return Err(invalid("MAX_UPLOAD_BYTES", "must be positive"));
        }
        let max_import_rows = parsed("MAX_IMPORT_ROWS", 2_000_000_usize)?;
        if max_import_rows == 0 {
            return Err(invalid("MAX_IMPORT_ROWS", "must be positive"));
        }
        let database_max_connections = parsed("DATABASE_MAX_CONNECTIONS", 20_u32)?;
        Ok(Self {
            database_url,
            storage_url,
            log_format,
            otel_endpoint: var("OTEL_EXPORTER_OTLP_ENDPOINT")?,
            max_upload_bytes,
            max_import_rows,
            database_max_connections,
        })
    }
}

/// Settings of `kpix-api`.
#[derive(Clone)]
pub struct ApiConfig {
    pub common: CommonConfig,
    pub jwt_secret: Vec<u8>,
    pub bind_addr: SocketAddr,
    pub cors_allowed_origins: Vec<String>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub request_timeout: Duration,
    pub max_json_bytes: usize,
    pub password_hash_concurrency: usize,
    /// Peers whose `X-Forwarded-For` is believed (load balancers, proxies).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// A client that has not sent its request's headers by then is dropped.
    pub header_read_timeout: Duration,
    /// Where `/metrics` is served; none on the public port.
    pub metrics_addr: Option<SocketAddr>,
    pub rate_limits: RateLimits,
}

/// Requests per client address before a 429 (DESIGN §8): there to stop
/// floods, generous enough for an office behind one address. 0 turns a limit
/// off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub signups_per_hour: u32,
    pub logins_per_minute: u32,
    pub refreshes_per_minute: u32,
    pub uploads_per_minute: u32,
}

impl fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiConfig")
            .field("common", &self.common)
            .field("jwt_secret", &"***")
            .field("bind_addr", &self.bind_addr)
            .field("cors_allowed_origins", &self.cors_allowed_origins)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .field("request_timeout", &self.request_timeout)
            .field("max_json_bytes", &self.max_json_bytes)
            .field("password_hash_concurrency", &self.password_hash_concurrency)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("metrics_addr", &self.metrics_addr)
            .field("rate_limits", &self.rate_limits)
            .finish()
    }
}

/// Shortest JWT secret accepted: HS256 needs at least 256 bits of key.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

impl ApiConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env()?;
        let jwt_secret = required("JWT_SECRET")?.into_bytes();
        if jwt_secret.len() < MIN_JWT_SECRET_BYTES {
            return Err(invalid(
                "JWT_SECRET",
                format!("must be at least {MIN_JWT_SECRET_BYTES} bytes"),
            ));
        }
        let bind_addr = parsed("BIND_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?;
        let cors_allowed_origins = var("CORS_ALLOWED_ORIGINS")?
            .map(|list| {
                list.split(',')
                    .map(|origin| origin.trim().trim_end_matches('/').to_owned())
                    .filter(|origin| !origin.is_empty())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for origin in &cors_allowed_origins {
            if origin != "*" && url::Url::parse(origin).is_err() {
                return Err(invalid(
                    "CORS_ALLOWED_ORIGINS",
                    format!("'{origin}' is not an origin such as https://app.example.com"),
                ));
            }
        }
        let access_secs = parsed("ACCESS_TOKEN_TTL_SECONDS", 900_u64)?;
        let refresh_days = parsed("REFRESH_TOKEN_TTL_DAYS", 30_u64)?;
        let timeout_secs = parsed("REQUEST_TIMEOUT_SECONDS", 30_u64)?;
        if access_secs == 0 || refresh_days == 0 || timeout_secs == 0 {
            return Err(invalid(
                "ACCESS_TOKEN_TTL_SECONDS",
                "token lifetimes and timeouts must be positive",
            ));
        }
        let header_secs = parsed("HEADER_READ_TIMEOUT_SECONDS", 10_u64)?;
        if header_secs == 0 {
            return Err(invalid("HEADER_READ_TIMEOUT_SECONDS", "must be positive"));
        }
        let trusted_proxies = var("TRUSTED_PROXIES")?
            .map(|list| parse_networks("TRUSTED_PROXIES", &list))
            .transpose()?
            .unwrap_or_default();
        let metrics_addr = var("METRICS_ADDR")?
            .map(|text| {
                text.parse()
                    .map_err(|e| invalid("METRICS_ADDR", format!("'{text}' is invalid: {e}")))
            })
            .transpose()?;
        let rate_limits = RateLimits {
            signups_per_hour: parsed("RATE_LIMIT_SIGNUPS_PER_HOUR", 20)?,
            logins_per_minute: parsed("RATE_LIMIT_LOGINS_PER_MINUTE", 60)?,
            refreshes_per_minute: parsed("RATE_LIMIT_REFRESHES_PER_MINUTE", 300)?,
            uploads_per_minute: parsed("RATE_LIMIT_UPLOADS_PER_MINUTE", 60)?,
        };
        Ok(Self {
            common,
            jwt_secret,
            bind_addr,
            cors_allowed_origins,
            access_token_ttl: Duration::from_secs(access_secs),
            refresh_token_ttl: Duration::from_secs(refresh_days * 86_400),
            request_timeout: Duration::from_secs(timeout_secs),
            max_json_bytes: parsed("MAX_JSON_BYTES", 1024 * 1024_usize)?,
            password_hash_concurrency: parsed("PASSWORD_HASH_CONCURRENCY", 2_usize)?.max(1),
            trusted_proxies,
            header_read_timeout: Duration::from_secs(header_secs),
            metrics_addr,
            rate_limits,
        })
    }
}

/// Comma-separated networks: CIDRs (`10.0.0.0/8`) or single addresses.
fn parse_networks(name: &'static str, list: &str) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<ipnet::IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    invalid(
                        name,
                        format!("'{item}' is not a network such as 10.0.0.0/8 or an address"),
                    )
                })
        })
        .collect()
}

/// Settings of `kpix-worker`.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub common: CommonConfig,
    pub concurrency: usize,
    pub heartbeat: Duration,
    pub poll_interval: Duration,
    pub metrics_addr: Option<SocketAddr>,
    /// How long an uploaded file is kept after its job ended.
    pub upload_retention: Duration,
}

impl WorkerConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env()?;
        let concurrency = parsed("WORKER_CONCURRENCY", 2_usize)?;
        if concurrency == 0 || concurrency > 64 {
            return Err(invalid("WORKER_CONCURRENCY", "must be between 1 and 64"));
        }
        let heartbeat = parsed("WORKER_HEARTBEAT_SECONDS", 10_u64)?;
        if heartbeat == 0 {
            return Err(invalid("WORKER_HEARTBEAT_SECONDS", "must be positive"));
        }
        let poll_ms = parsed("WORKER_POLL_MILLIS", 1000_u64)?.max(50);
        let retention_hours = parsed("UPLOAD_RETENTION_HOURS", 0_u64)?;
        Ok(Self {
            upload_retention: Duration::from_secs(retention_hours * 3600),
            common,
            concurrency,
            heartbeat: Duration::from_secs(heartbeat),
            poll_interval: Duration::from_millis(poll_ms),
            metrics_addr: match var("WORKER_METRICS_ADDR")? {
                None => None,
                Some(text) => Some(text.parse().map_err(|e| {
                    invalid("WORKER_METRICS_ADDR", format!("'{text}' is invalid: {e}"))
                })?),
            },
        })
    }
}

//! State shared by every handler.
use std::sync::Arc;

use kpix_shared::{auth::tokens::TokenKeys, config::ApiConfig, storage::Storage};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use tokio::sync::Semaphore;

use crate::rate_limit::RateLimiters;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub config: Arc<ApiConfig>,
    /// Shared, not copied: the state is cloned for every request.
    pub tokens: Arc<TokenKeys>,
    /// Bounds concurrent argon2 work on the blocking pool.
    pub hashing: Arc<Semaphore>,
    pub storage: Storage,
    pub metrics: Option<PrometheusHandle>,
    pub rate_limits: Arc<RateLimiters>,
}

impl AppState {
    /// Runs a CPU-heavy password operation on the blocking pool, a few at a
    /// time, so the async runtime keeps serving other requests.
    pub async fn hash_blocking<T, F>(&self, work: F) -> anyhow::Result<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self.hashing.acquire().await?;
        Ok(tokio::task::spawn_blocking(work).await?)
    }
}

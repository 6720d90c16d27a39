//! One module per domain, each with its own `router()`.
pub mod actions;
pub mod auth;
pub mod comments;
pub mod dashboards;
pub mod docs;
pub mod health;
pub mod imports;
pub mod kpis;
pub mod reporting;
pub mod teams;
pub mod users;
pub mod values;

/// Rows as the API sends them, each through its wire type's `From`.
pub fn wire<R, T: From<R>>(rows: Vec<R>) -> Vec<T> {
    rows.into_iter().map(T::from).collect()
}

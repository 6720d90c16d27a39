//! One module per domain, each with its own `router()`.
pub mod auth;
pub mod health;
pub mod teams;
pub mod users;

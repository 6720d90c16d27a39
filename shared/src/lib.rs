//! Code shared by `kpix-api` and `kpix-worker`: domain rules, database queries,
//! auth primitives, the import task payload, configuration and telemetry.
pub mod auth;
pub mod config;
pub mod db;
pub mod domain;
pub mod file_kind;
pub mod ids;
pub mod jobs;
pub mod metrics;
pub mod signal;
pub mod storage;
pub mod telemetry;
pub mod validate;

//! Request extractors whose rejections are the API's own problem+json errors,
//! and the types request fields are parsed into at the edge.
pub mod auth;
pub mod client;
pub mod date;
pub mod idempotency;
pub mod json;
pub mod number;
pub mod pagination;
pub mod path;
pub mod query;
pub mod text;

pub use auth::{AuthConn, AuthUser};
pub use client::ClientAddr;
pub use date::ApiDate;
pub use idempotency::IdempotencyKey;
pub use json::Json;
pub use number::{ApiDecimal, BoundedInt};
pub use pagination::{OrdinalPageParams, Page, PageParams, Pagination, PeriodPageParams};
pub use path::Path;
pub use query::Query;
pub use text::{Email, OptionalText, Password, Text};

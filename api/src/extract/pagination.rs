//! Keyset pagination: `limit` (default 100, max 1000) and an opaque `cursor`;
//! the next page's URL goes in a `Link: <…>; rel="next"` header.
use axum::{
    extract::{FromRequestParts, OriginalUri},
    http::{HeaderValue, Uri, header, request::Parts},
    response::{IntoResponse, Response},
};
use chrono::NaiveDate;
use kpix_shared::db::PageRequest;
use serde::Serialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

/// The page parameters of a list whose rows are keyed by id (documentation:
/// the [`Pagination`] extractor reads them).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PageParams {
    /// Rows per page, 1 to 1000; 100 when absent.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Where the page starts: the `cursor` of the previous page's
    /// `Link: <…>; rel="next"` URL.
    cursor: Option<Uuid>,
}

/// The page parameters of a list of values (keyed by period).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PeriodPageParams {
    /// Rows per page, 1 to 1000; 100 when absent.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Where the page starts: the `cursor` of the previous page's
    /// `Link: <…>; rel="next"` URL.
    cursor: Option<NaiveDate>,
}

/// The page parameters of a list keyed by position (an import's errors).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct OrdinalPageParams {
    /// Rows per page, 1 to 1000; 100 when absent.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Where the page starts: the `cursor` of the previous page's
    /// `Link: <…>; rel="next"` URL.
    #[param(minimum = -2147483648, maximum = 2147483647)]
    cursor: Option<i32>,
}

#[derive(Debug, Clone)]
pub struct Pagination {
    pub limit: i64,
    pub cursor: Option<String>,
    uri: Uri,
}

impl<S: Send + Sync> FromRequestParts<S> for Pagination {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut limit = DEFAULT_LIMIT;
        let mut cursor = None;
        for (key, value) in form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
        {
            match key.as_ref() {
                // an empty parameter is absent, as in every query string
                "limit" if !value.is_empty() => {
                    limit = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            ApiError::invalid(
                                "limit",
                                format!("must be an integer from 1 to {MAX_LIMIT}"),
                            )
                        })?;
                }
                "cursor" if !value.is_empty() => cursor = Some(value.into_owned()),
                _ => {}
            }
        }
        Ok(Self {
            limit,
            cursor,
            // the router is nested under /api/v1: links need the full path
            uri: parts
                .extensions
                .get::<OriginalUri>()
                .map_or_else(|| parts.uri.clone(), |original| original.0.clone()),
        })
    }
}

impl Pagination {
    /// The page to fetch: one row more than asked, to know if another follows.
    pub fn request<C: std::str::FromStr>(&self) -> Result<PageRequest<C>, ApiError> {
        let after = match &self.cursor {
            None => None,
            Some(text) => Some(text.parse().map_err(|_| {
                ApiError::invalid("cursor", "is not a cursor returned by this list")
            })?),
        };
        Ok(PageRequest {
            limit: self.limit + 1,
            after,
        })
    }

    /// The JSON array of at most `limit` rows, each sent as a `T`, with a
    /// next link when more exist.
    pub fn respond<R, T: From<R>>(
        &self,
        mut rows: Vec<R>,
        cursor_of: impl Fn(&R) -> String,
    ) -> Page<T> {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let next = match rows.last() {
            Some(last) if more => Some(self.next_url(&cursor_of(last))),
            _ => None,
        };
        let items = rows.into_iter().map(T::from).collect();
        Page { items, next }
    }

    fn next_url(&self, cursor: &str) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (key, value) in form_urlencoded::parse(self.uri.query().unwrap_or_default().as_bytes())
        {
            if key != "cursor" {
                query.append_pair(&key, &value);
            }
        }
        query.append_pair("cursor", cursor);
        format!("{}?{}", self.uri.path(), query.finish())
    }
}

/// A page of a list: a JSON array, and the next page in the Link header.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T: Serialize> IntoResponse for Page<T> {
    fn into_response(self) -> Response {
        let mut response = axum::Json(self.items).into_response();
        if let Some(next) = self.next
            && let Ok(value) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\""))
        {
            response.headers_mut().insert(header::LINK, value);
        }
        response
    }
}

//! Query strings: a bad parameter is a 422 naming it, an empty one (`?from=`,
//! as URL builders send unset fields) is absent, and a parameter the
//! operation does not take is a 422 naming it, whatever its value (the
//! OpenAPI document lists what each operation takes, and the server refuses
//! the rest: one list for both).
use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{FromRequestParts, MatchedPath, Request, State},
    http::{Method, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::de::DeserializeOwned;
use utoipa::openapi::{OpenApi, RefOr, path::ParameterIn};

use crate::error::{ApiError, FieldError};

#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(
                form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
                    .filter(|(_, value)| !value.is_empty()),
            )
            .finish();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Query)
            .map_err(|error| {
                let path = error.path().to_string();
                let message = error.into_inner().to_string();
                let field = if path == "." {
                    named_field(&message).unwrap_or_else(|| "query".to_owned())
                } else {
                    path
                };
                ApiError::Validation(vec![FieldError::new(field, message)])
            })
    }
}

fn named_field(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(message[start..end].to_owned())
}

/// The query parameters of each operation, by method and route (as axum
/// matches it, prefix included), read from the OpenAPI document.
#[derive(Debug, Default)]
pub struct QueryNames(HashMap<(Method, String), Vec<String>>);

impl QueryNames {
    pub fn of(document: &OpenApi, prefix: &str) -> Self {
        let mut names = HashMap::new();
        for (path, item) in &document.paths.paths {
            let operations = [
                (Method::GET, &item.get),
                (Method::POST, &item.post),
                (Method::PUT, &item.put),
                (Method::PATCH, &item.patch),
                (Method::DELETE, &item.delete),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                let query: Vec<String> = operation
                    .parameters
                    .iter()
                    .flatten()
                    .filter_map(|parameter| match parameter {
                        RefOr::T(p) if p.parameter_in == ParameterIn::Query => Some(p.name.clone()),
                        _ => None,
                    })
                    .collect();
                names.insert((method, format!("{prefix}{path}")), query);
            }
        }
        Self(names)
    }

    /// The parameters `method` on `route` takes; `None` for a route the
    /// document does not describe.
    pub fn get(&self, method: &Method, route: &str) -> Option<&[String]> {
        self.0
            .get(&(method.clone(), route.to_owned()))
            .map(Vec::as_slice)
    }
}

/// Middleware: a 422 naming every query parameter the matched operation does
/// not take.
pub async fn refuse_unknown_parameters(
    State(names): State<Arc<QueryNames>>,
    request: Request,
    next: Next,
) -> Response {
    if let (Some(query), Some(route)) = (
        request.uri().query(),
        request.extensions().get::<MatchedPath>(),
    ) && let Some(known) = names.get(request.method(), route.as_str())
    {
        let mut errors: Vec<FieldError> = Vec::new();
        for (name, _) in form_urlencoded::parse(query.as_bytes()) {
            if !known.iter().any(|k| *k == name) && !errors.iter().any(|e| e.field == name) {
                let message = if known.is_empty() {
                    "unknown query parameter: this operation takes none".to_owned()
                } else {
                    format!(
                        "unknown query parameter: this operation takes {}",
                        known.join(", ")
                    )
                };
                errors.push(FieldError::new(name, message));
            }
        }
        if !errors.is_empty() {
            return ApiError::Validation(errors).into_response();
        }
    }
    next.run(request).await
}

//! The OpenAPI document: built from the handlers' own annotations, then
//! completed here with what operations share, so that no handler repeats
//! it: the errors every operation can answer given what it is (secured, with
//! path ids, with a body), the problem+json body of every error, what an
//! empty query parameter means, and the links from the operations that
//! create an object to those that use it.
use std::collections::BTreeMap;

use utoipa::{
    Modify, OpenApi,
    openapi::{
        self, Content, ObjectBuilder, Ref, RefOr, Required, Response, ResponseBuilder, Type,
        header::HeaderBuilder,
        link::{Link, LinkBuilder},
        path::{Operation, ParameterIn, PathItem},
        schema::SchemaType,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

#[derive(OpenApi)]
#[openapi(
    info(title = "kpix API", description = "Performance management: dashboards, KPIs, values, action plans, imports and reporting.\n\n\
        Rules every operation shares (docs/api.md):\n\
        - Every error is `application/problem+json` (RFC 9457) with a stable `code`; a 422 lists the invalid \
        fields or query parameters in `errors`. 422: the request is wrong whatever the data; 409: it is valid \
        but the current state of the data refuses it.\n\
        - A query parameter an operation does not take is a 422 naming it; an empty one (`?from=`) is absent.\n\
        - Numbers are JSON numbers, never strings, between -10^18 and 10^18 with at most 10 decimals.\n\
        - Dates are `YYYY-MM-DD` between 1900-01-01 and 2199-12-31.\n\
        - Texts are trimmed; their length bounds count the characters as sent.\n\
        - In PATCH bodies an absent field is unchanged; `null` clears a nullable field and is a 422 \
        \"cannot be null\" for the others.\n\
        - A DONE action's progress is 100; a DONE or CANCELLED action is reopened before it is closed the \
        other way (409)."),
    servers((url = "/api/v1")),
    modifiers(&BearerAuth),
    components(schemas(crate::error::Problem, crate::error::FieldError))
)]
pub struct ApiDoc;

/// The served document: the merged routes' one, completed (the derive's
/// modifiers run before the routes are merged, so these run here).
pub fn finished(mut document: openapi::OpenApi) -> openapi::OpenApi {
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    StandardErrors.modify(&mut document);
    EmptyQueryValues.modify(&mut document);
    CrossFieldRules.modify(&mut document);
    Links.modify(&mut document);
    document
}

/// An optional query parameter sent empty (`?from=`, as URL builders send
/// unset fields) is absent: the document says so with `allowEmptyValue`
/// (which utoipa no longer models, hence the extension map, which it
/// writes as is).
struct EmptyQueryValues;

impl Modify for EmptyQueryValues {
    fn modify(&self, openapi: &mut openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                for parameter in operation.parameters.iter_mut().flatten() {
                    if let RefOr::T(parameter) = parameter
                        && parameter.parameter_in == ParameterIn::Query
                        && parameter.required == Required::False
                    {
                        parameter
                            .extensions
                            .get_or_insert_with(Default::default)
                            .insert("allowEmptyValue".to_owned(), true.into());
                    }
                }
            }
        }
    }
}

/// Rules between the fields of one body that JSON Schema can say and
/// utoipa's derive cannot: written as `if` / `then` into the schemas'
/// extension maps (which utoipa writes as they are).
struct CrossFieldRules;

impl Modify for CrossFieldRules {
    fn modify(&self, openapi: &mut openapi::OpenApi) {
        // kpix_shared::domain::action: a DONE action's progress is 100
        let done_is_full = [
            (
                "if",
                serde_json::json!({
                    "required": ["status", "progress"],
                    "properties": {"status": {"const": "DONE"}}
                }),
            ),
            (
                "then",
                serde_json::json!({"properties": {"progress": {"const": 100}}}),
            ),
        ];
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for name in ["CreateActionRequest", "UpdateActionRequest"] {
            if let Some(RefOr::T(openapi::Schema::Object(object))) =
                components.schemas.get_mut(name)
            {
                let extensions = object.extensions.get_or_insert_with(Default::default);
                for (key, value) in &done_is_full {
                    extensions.insert((*key).to_owned(), value.clone());
                }
            }
        }
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

pub const PROBLEM_JSON: &str = "application/problem+json";

/// A shared error response: its status, its name under
/// `components/responses`, its description.
struct Standard {
    status: &'static str,
    name: &'static str,
    description: &'static str,
}

const BAD_REQUEST: Standard = Standard {
    status: "400",
    name: "BadRequest",
    description: "Malformed request: a body that is not well-formed JSON (or multipart), or a path id that is not a UUID.",
};
const UNAUTHORIZED: Standard = Standard {
    status: "401",
    name: "Unauthorized",
    description: "No bearer token, or an invalid or expired one, or its user was deactivated.",
};
const NOT_FOUND: Standard = Standard {
    status: "404",
    name: "NotFound",
    description: "No such object, or one of another organization or that the caller cannot see.",
};
const TOO_LARGE: Standard = Standard {
    status: "413",
    name: "PayloadTooLarge",
    description: "The body is larger than the server accepts.",
};
const UNSUPPORTED: Standard = Standard {
    status: "415",
    name: "UnsupportedMediaType",
    description: "The body's Content-Type is not one the operation reads.",
};
const INVALID: Standard = Standard {
    status: "422",
    name: "ValidationFailed",
    description: "Invalid data: `errors` names each invalid body field or query parameter (an unknown field or parameter included) and says what to send.",
};
const UNAVAILABLE: Standard = Standard {
    status: "503",
    name: "ServiceUnavailable",
    description: "The database is unreachable or busy; retry later.",
};
const TIMEOUT: Standard = Standard {
    status: "504",
    name: "Timeout",
    description: "The request took longer than the server's time limit.",
};

/// Adds to each operation the errors that follow from what it is, and a
/// problem+json body and a description to every error response.
struct StandardErrors;

impl Modify for StandardErrors {
    fn modify(&self, openapi: &mut openapi::OpenApi) {
        let all = [
            &BAD_REQUEST,
            &UNAUTHORIZED,
            &NOT_FOUND,
            &TOO_LARGE,
            &UNSUPPORTED,
            &INVALID,
            &UNAVAILABLE,
            &TIMEOUT,
        ];
        let components = openapi.components.get_or_insert_with(Default::default);
        for standard in all {
            components.responses.insert(
                standard.name.to_owned(),
                RefOr::T(problem_response(standard.description)),
            );
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            let has_path_ids = path.contains('{');
            for operation in operations_mut(item) {
                let secured = operation
                    .security
                    .as_ref()
                    .is_some_and(|requirements| !requirements.is_empty());
                let has_body = operation.request_body.is_some();
                let applies = [
                    (&BAD_REQUEST, has_path_ids || has_body),
                    (&UNAUTHORIZED, secured),
                    (&NOT_FOUND, has_path_ids),
                    (&TOO_LARGE, has_body),
                    (&UNSUPPORTED, has_body),
                    // every operation refuses a query parameter it does not take
                    (&INVALID, true),
                    (&UNAVAILABLE, true),
                    (&TIMEOUT, true),
                ];
                let responses = &mut operation.responses.responses;
                for (standard, applies) in applies {
                    if !applies {
                        continue;
                    }
                    let reference = RefOr::Ref(Ref::from_response_name(standard.name));
                    match responses.get(standard.status) {
                        // the handler said more about it: keep its words
                        Some(RefOr::T(declared)) if !declared.description.is_empty() => {}
                        _ => {
                            responses.insert(standard.status.to_owned(), reference);
                        }
                    }
                }
                for (status, response) in responses.iter_mut() {
                    if let RefOr::T(response) = response {
                        complete_response(status, response);
                    }
                }
            }
        }
    }
}

fn problem_content() -> Content {
    Content::new(Some(Ref::from_schema_name("Problem")))
}

fn problem_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, problem_content())
        .build()
}

/// A declared response without a body or a description gets them.
fn complete_response(status: &str, response: &mut Response) {
    let is_error = status.starts_with('4') || status.starts_with('5');
    if is_error && response.content.is_empty() {
        response
            .content
            .insert(PROBLEM_JSON.to_owned(), RefOr::T(problem_content()));
    }
    if status == "429" && !response.headers.contains_key("Retry-After") {
        let seconds = ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::Integer))
            .minimum(Some(0));
        response.headers.insert(
            "Retry-After".to_owned(),
            RefOr::T(
                HeaderBuilder::new()
                    .schema(Some(seconds))
                    .description(Some("Seconds to wait before trying again."))
                    .build(),
            ),
        );
    }
    if response.description.is_empty() {
        let text = match status {
            "200" => "OK.",
            "201" => "Created.",
            "202" => "Accepted.",
            "204" => "Done; no content.",
            "403" => "The caller may see this object but not change it.",
            "409" => "Conflicts with the current state of the data.",
            "429" => "Too many attempts; retry after the `Retry-After` seconds.",
            _ => "See the problem's `detail`.",
        };
        response.description = text.to_owned();
    }
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// The operations that create an object, the status they answer with, and
/// the path under which the object is then used: every operation under it
/// gets a link from the creation, with `{id}` = the created object's `id`.
const CREATIONS: &[(&str, &str, &str)] = &[
    ("create_user", "201", "/users/{id}"),
    ("create_team", "201", "/teams/{id}"),
    ("create_dashboard", "201", "/dashboards/{id}"),
    ("create_kpi", "201", "/kpis/{id}"),
    ("create_value", "201", "/values/{id}"),
    ("create_action", "201", "/actions/{id}"),
    ("create_kpi_comment", "201", "/comments/{id}"),
    ("create_action_comment", "201", "/comments/{id}"),
    ("upload_kpi_values", "202", "/imports/jobs/{id}"),
];

/// A link whose parameters do not all come from the created object's `id`.
struct OtherLink {
    from: &'static str,
    status: &'static str,
    to: &'static str,
    /// (parameter, runtime expression)
    parameters: &'static [(&'static str, &'static str)],
}

const OTHER_LINKS: &[OtherLink] = &[OtherLink {
    from: "add_team_member",
    status: "201",
    to: "remove_team_member",
    parameters: &[
        ("id", "$request.path.id"),
        ("user_id", "$request.body#/user_id"),
    ],
}];

/// OpenAPI links from each creation to the operations on what it created, so
/// that a client (and schemathesis' stateful phase) can follow them.
struct Links;

impl Modify for Links {
    fn modify(&self, openapi: &mut openapi::OpenApi) {
        // (operation id → path) of every operation
        let mut targets: Vec<(String, String)> = Vec::new();
        for (path, item) in openapi.paths.paths.iter_mut() {
            for operation in operations_mut(item) {
                if let Some(id) = &operation.operation_id {
                    targets.push((id.clone(), path.clone()));
                }
            }
        }
        let mut links: BTreeMap<(String, String), Vec<(String, Link)>> = BTreeMap::new();
        for (from, status, prefix) in CREATIONS {
            for (to, path) in &targets {
                let under = path == prefix
                    || path
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with('/'));
                // a link must fill every path parameter of its target
                if under && path.matches('{').count() == 1 {
                    let link = LinkBuilder::new()
                        .operation_id(to.as_str())
                        .parameter("id", "$response.body#/id")
                        .build();
                    links
                        .entry(((*from).to_owned(), (*status).to_owned()))
                        .or_default()
                        .push((to.clone(), link));
                }
            }
        }
        // a session's refresh token, from the answers that issue one
        for (from, status) in [("signup", "201"), ("login", "200"), ("refresh", "200")] {
            for to in ["refresh", "logout"] {
                let link = LinkBuilder::new()
                    .operation_id(to)
                    .request_body(Some(serde_json::json!({
                        "refresh_token": "$response.body#/refresh_token"
                    })))
                    .build();
                links
                    .entry((from.to_owned(), status.to_owned()))
                    .or_default()
                    .push((to.to_owned(), link));
            }
        }
        for link in OTHER_LINKS {
            let mut built = LinkBuilder::new().operation_id(link.to);
            for (name, expression) in link.parameters {
                built = built.parameter(*name, *expression);
            }
            links
                .entry((link.from.to_owned(), link.status.to_owned()))
                .or_default()
                .push((link.to.to_owned(), built.build()));
        }
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                let Some(id) = operation.operation_id.clone() else {
                    continue;
                };
                for ((from, status), links) in &links {
                    if *from != id {
                        continue;
                    }
                    if let Some(RefOr::T(response)) =
                        operation.responses.responses.get_mut(status.as_str())
                    {
                        for (name, link) in links {
                            response.links.insert(name.clone(), RefOr::T(link.clone()));
                        }
                    }
                }
            }
        }
    }
}

//! The OpenAPI document: built from the handlers' own annotations, then
//! completed here with what operations share, so that no handler repeats it.
use utoipa::{
    Modify, OpenApi,
    openapi::{
        self, RefOr, Required,
        path::{Operation, ParameterIn, PathItem},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

#[derive(OpenApi)]
#[openapi(
    info(title = "kpix API", description = "Performance management: dashboards, KPIs, values, action plans, imports and reporting.\n\n\
        A query parameter an operation does not take is a 422 naming it."),
    servers((url = "/api/v1")),
    modifiers(&BearerAuth),
    components(schemas(crate::error::Problem, crate::error::FieldError))
)]
pub struct ApiDoc;

/// The served document: the merged routes' one, completed (the derive's
/// modifiers run before the routes are merged, so these run here).
pub fn finished(mut document: openapi::OpenApi) -> openapi::OpenApi {
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    EmptyQueryValues.modify(&mut document);
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

//! The generated OpenAPI document against what the server answers: the error envelope on every
//! refusal, the refusals of the shared body and path extractors, which bodies are required,
//! and the scope names that scope lists may hold.
//!
//! Schemathesis checks the same in CI (`.ci/schemathesis`) with generated requests; these
//! tests pin each rule down with one request per operation.

use axum::http::{Method, StatusCode};
use romm_server::auth::scopes::{Role, Scope};
use serde_json::Value;

use crate::harness::{RequestBuilder, TestApp, TestResponse, PASSWORD};
use crate::on_both_backends;

on_both_backends!(
    json_bodies_of_another_content_type_get_a_documented_415,
    integer_path_segments_that_are_not_integers_get_a_documented_422,
    a_body_is_documented_as_required_exactly_where_its_absence_is_refused,
);

const ADMIN: &str = "admin";

/// One more than `i64::MAX`: digits that still do not make an id.
const BEYOND_I64: &str = "9223372036854775808";

/// One operation of the document, with the parts these tests read.
struct Operation {
    method: Method,
    path: String,
    entry: Value,
}

impl Operation {
    fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The statuses the operation documents.
    fn documented_statuses(&self) -> Vec<String> {
        let responses = self.entry["responses"].as_object();
        responses
            .into_iter()
            .flatten()
            .map(|(status, _)| status.clone())
            .collect()
    }

    fn body_types(&self) -> Vec<String> {
        let content = self.entry["requestBody"]["content"].as_object();
        content
            .into_iter()
            .flatten()
            .map(|(media_type, _)| media_type.clone())
            .collect()
    }

    fn has_integer_segment(&self) -> bool {
        self.path_parameters()
            .any(|parameter| parameter["schema"]["type"] == "integer")
    }

    fn path_parameters(&self) -> impl Iterator<Item = &Value> {
        let parameters = self.entry["parameters"].as_array().map(Vec::as_slice);
        parameters
            .unwrap_or_default()
            .iter()
            .filter(|parameter| parameter["in"] == "path")
    }

    /// The path with every integer parameter set to `integer` and every other to a value
    /// that names nothing.
    fn uri(&self, integer: &str) -> String {
        let mut uri = self.path.clone();
        for parameter in self.path_parameters() {
            let name = parameter["name"].as_str().expect("a parameter name");
            let value = if parameter["schema"]["type"] == "integer" {
                integer
            } else {
                "unknown"
            };
            uri = uri.replace(&format!("{{{name}}}"), value);
        }
        uri
    }

    /// The request as the admin, over HTTP Basic.
    fn request(&self, integer: &str) -> RequestBuilder {
        RequestBuilder::new(self.method.clone(), &self.uri(integer)).basic(ADMIN, PASSWORD)
    }
}

fn document() -> Value {
    serde_json::to_value(romm_server::http::openapi()).expect("a serializable document")
}

fn operations() -> Vec<Operation> {
    let document = document();
    let paths = document["paths"].as_object().expect("a paths object");
    let mut operations = Vec::new();
    for (path, item) in paths {
        for (method, entry) in item.as_object().expect("a path item") {
            let Ok(method) = method.to_ascii_uppercase().parse::<Method>() else {
                continue;
            };
            operations.push(Operation {
                method,
                path: path.clone(),
                entry: entry.clone(),
            });
        }
    }
    assert!(!operations.is_empty(), "the document lists no operation");
    operations
}

/// Why `response` is not a documented refusal of `operation` in the error envelope, if it
/// is not one.
fn undocumented_refusal(operation: &Operation, response: &TestResponse) -> Option<String> {
    let status = response.status.as_str().to_owned();
    let is_json = response
        .header("content-type")
        .is_some_and(|value| value.starts_with("application/json"));
    let has_detail = is_json && response.json()["detail"].is_string();
    if !operation.documented_statuses().contains(&status) {
        Some(format!("{}: undocumented {status}", operation.label()))
    } else if !has_detail {
        Some(format!(
            "{}: {status} without a detail: {}",
            operation.label(),
            response.text()
        ))
    } else {
        None
    }
}

#[test]
fn every_refusal_is_documented_with_the_error_body() {
    for operation in operations() {
        let responses = operation.entry["responses"].as_object().expect("responses");
        for (status, response) in responses
            .iter()
            .filter(|(status, _)| status.starts_with('4'))
        {
            let schema = &response["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(
                schema,
                "#/components/schemas/ErrorBody",
                "{} {status}",
                operation.label()
            );
        }
    }
    let schemas = &document()["components"]["schemas"];
    assert_eq!(
        schemas["ErrorBody"]["required"],
        serde_json::json!(["detail"])
    );
}

#[test]
fn scope_lists_hold_only_the_22_scope_names() {
    let document = document();
    let scope = &document["components"]["schemas"]["Scope"];
    let names: Vec<&str> = Scope::ALL.iter().map(|scope| scope.name()).collect();

    assert_eq!(scope["enum"], serde_json::json!(names));
    let create_token = &document["components"]["schemas"]["CreateTokenForm"];
    assert_eq!(
        create_token["properties"]["scopes"]["items"]["$ref"],
        "#/components/schemas/Scope"
    );
    assert_eq!(create_token["properties"]["scopes"]["minItems"], 1);
}

async fn json_bodies_of_another_content_type_get_a_documented_415(app: TestApp) {
    app.user(ADMIN, Role::Admin).await;
    let takes_json = operations().into_iter().filter(|operation| {
        operation
            .body_types()
            .iter()
            .any(|kind| kind == "application/json")
    });

    let mut problems = Vec::new();
    for operation in takes_json {
        let request = operation.request("1").raw_body("text/plain", "{}").build();
        let response = app.send(request).await;

        // A login with Basic reads no body at all, so its content type does not matter.
        if response.status == StatusCode::OK && operation.path.ends_with("/login") {
            continue;
        }
        if response.status != StatusCode::UNSUPPORTED_MEDIA_TYPE {
            problems.push(format!(
                "{}: {} instead of 415",
                operation.label(),
                response.status
            ));
        }
        problems.extend(undocumented_refusal(&operation, &response));
    }

    assert!(problems.is_empty(), "{problems:#?}");
}

async fn integer_path_segments_that_are_not_integers_get_a_documented_422(app: TestApp) {
    app.user(ADMIN, Role::Admin).await;
    let with_integers = operations()
        .into_iter()
        .filter(Operation::has_integer_segment);

    let mut problems = Vec::new();
    for operation in with_integers {
        let request = operation.request(BEYOND_I64).build();
        let response = app.send(request).await;

        if response.status != StatusCode::UNPROCESSABLE_ENTITY {
            problems.push(format!(
                "{}: {} instead of 422",
                operation.label(),
                response.status
            ));
        }
        problems.extend(undocumented_refusal(&operation, &response));
    }

    assert!(problems.is_empty(), "{problems:#?}");
}

async fn a_body_is_documented_as_required_exactly_where_its_absence_is_refused(app: TestApp) {
    app.user(ADMIN, Role::Admin).await;
    let with_bodies = operations()
        .into_iter()
        .filter(|operation| !operation.body_types().is_empty());

    let mut problems = Vec::new();
    for operation in with_bodies {
        let is_required = operation.entry["requestBody"]["required"] == true;
        let response = app.send(operation.request("1").build()).await;

        if response.status.is_success() == is_required {
            let required = if is_required { "required" } else { "optional" };
            problems.push(format!(
                "{}: the body is documented as {required}, but none got {}",
                operation.label(),
                response.status
            ));
        }
        if !response.status.is_success() {
            problems.extend(undocumented_refusal(&operation, &response));
        }
    }

    assert!(problems.is_empty(), "{problems:#?}");
}

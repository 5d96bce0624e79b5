//! `/openapi.json`, generated from the handlers' `#[utoipa::path]`
//! annotations and the schemas of `ingot-api`: a route without an annotation
//! fails the test below, and what a handler parses is what the document says.

use ingot_api::{
    core::{
        Health, NodeStatus, Observer, Organisation, SubmitResult, SubmitTx, SubmitTxs, Submitted,
        ValidateProcess, Validator, WhoAmI,
    },
    ErrorBody, SIGNED_REQUEST,
};
use utoipa::{
    openapi::security::{ApiKey, ApiKeyValue, SecurityScheme},
    Modify, OpenApi,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ingot node API",
        version = "1",
        description = "Reads are denied by default: anonymous callers get health, status, identity resolution and this document; everything else needs a signed request (docs/api-auth.md) and passes the owning module's read rule. Every answer with a status of 400 or more is an ErrorBody with a stable code."
    ),
    paths(
        crate::api::health,
        crate::api::metrics,
        crate::api::openapi,
        crate::api::status,
        crate::api::whoami,
        crate::api::modules,
        crate::api::submit,
        crate::api::submit_batch,
        crate::api::tx_status,
        crate::api::latest_block,
        crate::api::block,
        crate::api::epochs,
        crate::api::read_state,
        crate::api::events,
    ),
    components(schemas(
        ErrorBody, Health, NodeStatus, Validator, Observer, Organisation, WhoAmI, SubmitTx, SubmitTxs,
        Submitted, SubmitResult, ValidateProcess
    )),
    modifiers(&SignedRequests),
    tags(
        (name = "node", description = "health, status, metrics, this document"),
        (name = "chain", description = "transactions, blocks, state, events"),
        (name = "devices", description = "device identity and naming (white paper 三.1, 三.3)"),
        (name = "access", description = "device access control (三.2)"),
        (name = "telemetry", description = "device readings and their proofs (三.4)"),
        (name = "workflow", description = "BPMN processes as contracts (二.1)"),
    )
)]
pub struct ApiDoc;

/// The signed-request scheme every members-only route requires.
struct SignedRequests;

impl Modify for SignedRequests {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SIGNED_REQUEST,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-ingot-signature",
                "with x-ingot-cert, x-ingot-time and x-ingot-nonce; see docs/api-auth.md",
            ))),
        );
    }
}

/// The document as JSON, for a node whose metrics are public or not.
pub fn document(public_metrics: bool) -> serde_json::Value {
    let mut api = ApiDoc::openapi();
    for module in crate::module_routes::MODULE_APIS {
        api.merge(module.openapi());
    }
    let mut doc = serde_json::to_value(api).expect("the OpenAPI document serialises");
    if public_metrics {
        doc["paths"]["/metrics"]["get"]["security"] =
            serde_json::json!([{}, { SIGNED_REQUEST: [] }]);
    }
    doc
}

#[cfg(test)]
mod tests {
    /// Every route the node registers is in `/openapi.json` (a route added
    /// without its entry fails here), and every documented path is routed.
    #[test]
    fn the_document_lists_every_route() {
        let doc = super::document(false);
        let documented: std::collections::BTreeSet<String> =
            doc["paths"].as_object().unwrap().keys().cloned().collect();
        let mut routed = std::collections::BTreeSet::new();
        // The node's routes and every module's (`crates/modules/*/src/api.rs`,
        // read without a list, so a new module's routes are checked too).
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut sources = vec![std::fs::read_to_string(root.join("src/api.rs")).unwrap()];
        for module in std::fs::read_dir(root.join("../modules")).unwrap() {
            let api = module.unwrap().path().join("src/api.rs");
            if api.exists() {
                sources.push(std::fs::read_to_string(api).unwrap());
            }
        }
        for src in &sources {
            for (i, _) in src.match_indices(".route(") {
                let rest = src[i..].trim_start_matches(".route(").trim_start();
                let Some(rest) = rest.strip_prefix("\"/") else {
                    continue;
                };
                let path = &rest[..rest.find('"').unwrap()];
                routed.insert(format!("/{}", path.replace("{*", "{")));
            }
        }
        assert!(routed.len() >= 25, "{routed:?}");
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from /openapi.json: {undocumented:?}"
        );
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            unrouted.is_empty(),
            "documented but not routed: {unrouted:?}"
        );
    }

    /// Every operation documents its error answers with the error body, and
    /// names who may call it: members-only routes require a signed request.
    #[test]
    fn every_operation_has_errors_and_security() {
        let doc = super::document(true);
        assert_eq!(
            doc["paths"]["/metrics"]["get"]["security"][0],
            serde_json::json!({})
        );
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                operations += 1;
                for status in ["400", "401", "404", "405", "413", "429", "503"] {
                    assert_eq!(
                        op["responses"][status]["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
                assert!(op["responses"]["200"].is_object(), "{method} {path}");
                assert!(op["security"].is_array(), "{method} {path}: no security");
            }
        }
        assert!(operations >= 30, "{operations}");
    }
}

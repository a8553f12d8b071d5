//! The OpenAPI document: served at /api/openapi.json by a real node, valid enough to render,
//! and rendered into docs/api-reference.md (the "rendered in docs" copy). The test fails when
//! the reference is stale; `UPDATE_DOCS=1 cargo test --test openapi_doc` rewrites it.

mod common;

use std::fmt::Write;

use serde_json::Value;

use common::TestNode;

const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api-reference.md");

/// `#/components/schemas/Name` -> `Name`, linked to its section.
fn type_of(schema: &Value) -> String {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("[{name}](#{})", name.to_lowercase());
    }
    if let Some(all) = schema["allOf"].as_array().or(schema["oneOf"].as_array()) {
        let sep = if schema["allOf"].is_array() {
            " & "
        } else {
            " | "
        };
        return all.iter().map(type_of).collect::<Vec<_>>().join(sep);
    }
    match &schema["type"] {
        Value::String(t) if t == "array" => format!("{}[]", type_of(&schema["items"])),
        Value::String(t) => match schema["format"].as_str() {
            Some(f) => format!("{t} ({f})"),
            None => t.clone(),
        },
        Value::Array(ts) => {
            let names: Vec<&str> = ts.iter().filter_map(Value::as_str).collect();
            let mut base = schema.clone();
            base["type"] = Value::String(
                names
                    .iter()
                    .find(|n| **n != "null")
                    .unwrap_or(&"null")
                    .to_string(),
            );
            let nullable = if names.contains(&"null") {
                " or null"
            } else {
                ""
            };
            format!("{}{nullable}", type_of(&base))
        }
        _ if schema["enum"].is_array() => "enum".into(),
        _ if schema["additionalProperties"].is_object() => {
            format!("map of {}", type_of(&schema["additionalProperties"]))
        }
        _ => "any".into(),
    }
}

fn one_line(text: &Value) -> String {
    text.as_str()
        .unwrap_or("")
        .replace('\n', " ")
        .replace('|', "\\|")
}

/// The media types of a body that is not JSON (CSV, images, raw bytes), as `a`, `b`.
fn media_types(body: &Value) -> Option<String> {
    let types: Vec<String> = body["content"]
        .as_object()?
        .keys()
        .filter(|t| *t != "application/json")
        .map(|t| format!("`{t}`"))
        .collect();
    (!types.is_empty()).then(|| types.join(", "))
}

fn render(doc: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# API reference\n");
    let _ = writeln!(out, "Generated from `/api/openapi.json` (the code's own description, utoipa) by `tests/openapi_doc.rs`; do not edit by hand. docs/api.md explains authentication, webhooks and sites.\n");
    let _ = writeln!(out, "{}\n", one_line(&doc["info"]["description"]));
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let _ = writeln!(out, "## {} `{path}`\n", method.to_uppercase());
            let text = [&op["summary"], &op["description"]]
                .iter()
                .map(|t| one_line(t))
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            if !text.is_empty() {
                let _ = writeln!(out, "{text}\n");
            }
            let auth: Vec<String> = op["security"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|req| {
                    req.as_object().into_iter().flatten().map(|(name, scopes)| {
                        let scopes: Vec<&str> = scopes
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .collect();
                        if scopes.is_empty() {
                            format!("`{name}`")
                        } else {
                            format!("`{name}` ({})", scopes.join(", "))
                        }
                    })
                })
                .collect();
            let _ = writeln!(
                out,
                "Auth: {}\n",
                if auth.is_empty() {
                    "none".into()
                } else {
                    auth.join(" or ")
                }
            );
            for p in op["parameters"].as_array().into_iter().flatten() {
                let _ = writeln!(
                    out,
                    "- {} `{}`: {}{} {}",
                    p["in"].as_str().unwrap_or(""),
                    p["name"].as_str().unwrap_or(""),
                    type_of(&p["schema"]),
                    if p["required"] == true {
                        ", required"
                    } else {
                        ""
                    },
                    one_line(&p["description"])
                );
            }
            if let Some(body) =
                op["requestBody"]["content"]["application/json"]["schema"].as_object()
            {
                let _ = writeln!(out, "- body: {}", type_of(&Value::Object(body.clone())));
            } else if let Some(types) = media_types(&op["requestBody"]) {
                let _ = writeln!(out, "- body: raw bytes as {types}");
            }
            for (code, resp) in op["responses"].as_object().into_iter().flatten() {
                if code.starts_with('2') {
                    let schema = &resp["content"]["application/json"]["schema"];
                    let _ = writeln!(
                        out,
                        "- {code}: {}",
                        match media_types(resp) {
                            _ if !schema.is_null() => type_of(schema),
                            Some(types) => format!("{} ({types})", one_line(&resp["description"])),
                            None => one_line(&resp["description"]),
                        }
                    );
                }
            }
            let _ = writeln!(
                out,
                "- errors: 400, 401, 403, 404, 409, 413, 503 as [ErrorBody](#errorbody)\n"
            );
        }
    }
    let _ = writeln!(out, "# Schemas\n");
    for (name, schema) in doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let _ = writeln!(out, "## {name}\n");
        let about = one_line(&schema["description"]);
        if !about.is_empty() {
            let _ = writeln!(out, "{about}\n");
        }
        // A struct with a flattened field is `allOf`: its own fields, and the flattened type's.
        let flattened: Vec<String> = match schema["allOf"].as_array() {
            Some(parts) if schema["properties"].is_null() => parts
                .iter()
                .filter(|p| p["$ref"].is_string())
                .map(type_of)
                .collect(),
            _ => Vec::new(),
        };
        let schema = match schema["allOf"].as_array() {
            Some(parts) if !flattened.is_empty() => parts
                .iter()
                .find(|p| p["properties"].is_object())
                .unwrap_or(schema),
            _ => schema,
        };
        if !flattened.is_empty() {
            let _ = writeln!(out, "Also has the fields of {}.\n", flattened.join(", "));
        }
        if let Some(values) = schema["enum"].as_array() {
            let vals: Vec<String> = values
                .iter()
                .map(|v| format!("`{}`", v.as_str().unwrap_or("")))
                .collect();
            let _ = writeln!(out, "One of {}.\n", vals.join(", "));
            continue;
        }
        let required: Vec<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let props = schema["properties"].as_object();
        if props.is_none() {
            let _ = writeln!(out, "Type: {}\n", type_of(schema));
            continue;
        }
        let _ = writeln!(
            out,
            "| field | type | required | about |\n|---|---|---|---|"
        );
        for (field, s) in props.into_iter().flatten() {
            let _ = writeln!(
                out,
                "| `{field}` | {} | {} | {} |",
                type_of(s),
                if required.contains(&field.as_str()) {
                    "yes"
                } else {
                    ""
                },
                one_line(&s["description"])
            );
        }
        let _ = writeln!(out);
    }
    out
}

#[tokio::test]
async fn the_node_serves_its_openapi_document_and_the_docs_render_it() {
    let node = TestNode::start();
    let r = node.get("/api/openapi.json", None).await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "OpenAPI 3"
    );
    for path in [
        "/api/v1/webhooks",
        "/api/v1/api-keys",
        "/api/v1/sites",
        "/api/v1/conversations/{id}/messages",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is described");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert!(schemes["agent_token"].is_object() && schemes["api_key"].is_object());

    let rendered = render(&doc);
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(REFERENCE, &rendered).unwrap();
        return;
    }
    let current = std::fs::read_to_string(REFERENCE).unwrap_or_default();
    assert!(
        current == rendered,
        "docs/api-reference.md is stale: UPDATE_DOCS=1 cargo test --test openapi_doc"
    );
}

/// `(METHOD, path)` of every route the gateway registers under `/api/v1`, read from its source:
/// `.route("/path", web::get()...)` in each module `mod.rs` configures into that scope.
fn registered_api_routes() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/gateway");
    let mut routes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // mod.rs registers the non-API routes (/ws, /healthz, ...), pages.rs the web pages.
        if name == "mod.rs" || name == "pages.rs" || !name.ends_with(".rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (at, _) in text.match_indices("route(") {
            let rest = text[at + "route(".len()..].trim_start();
            let Some(rest) = rest.strip_prefix('"') else {
                continue;
            };
            let route = &rest[..rest.find('"').unwrap()];
            let after = &rest[route.len()..];
            let method = after
                .find("web::")
                .map(|i| &after[i + "web::".len()..])
                .and_then(|m| m.split('(').next())
                .unwrap();
            if method != "method" {
                // `web::method(OPTIONS)`: CORS preflights, not operations.
                routes.push((method.to_uppercase(), format!("/api/v1{route}")));
            }
        }
    }
    routes.sort();
    routes
}

/// A route added without a `#[utoipa::path]` in `gateway::openapi`'s list is neither
/// documented nor fuzzed by tests/schemathesis: this fails until it is both.
#[tokio::test]
async fn every_api_route_is_an_operation_of_the_document() {
    let node = TestNode::start();
    let doc = node.get("/api/openapi.json", None).await.json();
    let mut documented = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.push((method.to_uppercase(), path.clone()));
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(ids.insert(id.to_owned()), "operationId {id} is not unique");
        }
    }
    documented.sort();
    let registered = registered_api_routes();
    assert!(
        registered.len() > 60,
        "the route table was read: {registered:?}"
    );
    let missing: Vec<_> = registered
        .iter()
        .filter(|r| !documented.contains(r))
        .collect();
    let extra: Vec<_> = documented
        .iter()
        .filter(|r| !registered.contains(r))
        .collect();
    assert!(
        missing.is_empty(),
        "routes missing from the document: {missing:?}"
    );
    assert!(extra.is_empty(), "documented but not routed: {extra:?}");
}

//! Guards of the addressing rules, read from the source tree: entity actors are reached only
//! through `EntityRef` (no actor address of an entity outside `src/cluster/`), so that the
//! cluster can route every call in one place.

use std::path::{Path, PathBuf};

/// The entity actor types.
const ENTITY_ACTORS: [&str; 4] = [
    "ConversationActor",
    "VisitorActor",
    "AgentActor",
    "RouterActor",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source dir readable") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every line of `src/` outside `src/cluster/` that `forbidden` flags, as `path:line: text`.
fn offenders(forbidden: impl Fn(&str) -> bool) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = Vec::new();
    for file in files.iter().filter(|f| !f.starts_with(src.join("cluster"))) {
        let text = std::fs::read_to_string(file).expect("source readable");
        for (n, line) in text.lines().enumerate() {
            if forbidden(line) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn no_entity_actor_address_outside_the_cluster_module() {
    let found = offenders(|line| {
        ENTITY_ACTORS.iter().any(|actor| {
            line.contains(&format!("Addr<{actor}>"))
                || line.contains(&format!("Recipient<{actor}"))
                || line.contains(&format!("{actor}::start"))
                || line.contains(&format!("{actor}::create"))
        })
    });
    assert!(
        found.is_empty(),
        "reach entity actors through EntityRef:\n{}",
        found.join("\n")
    );
}

#[test]
fn entity_actors_never_hand_out_their_own_address() {
    // `ctx.address()` inside an entity actor would leak an `Addr` (passivation goes through
    // `Registry::passivate`); the connection actor, which is not an entity, may.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/actors");
    let mut found = Vec::new();
    for dir in ["conversation", "visitor", "agent", "router"] {
        let mut files = Vec::new();
        rust_files(&src.join(dir), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).expect("source readable");
            if text.contains(".address()") {
                found.push(file.display().to_string());
            }
        }
    }
    assert!(
        found.is_empty(),
        "entity actors use ctx.address(): {found:?}"
    );
}

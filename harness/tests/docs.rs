//! The packet walk-through (docs/net-walkthrough.md) names a function at every step as a link
//! to its file. This test keeps those references true: each linked file exists and still defines
//! the function the link names. It runs on the host, without QEMU.

use std::path::{Path, PathBuf};

/// (name, target) of every markdown link of the form [`name`](target).
fn code_links(text: &str) -> Vec<(String, String)> {
    let mut links = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("[`") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find("`](") else { break };
        let name = rest[..end].to_string();
        rest = &rest[end + 3..];
        let Some(close) = rest.find(')') else { break };
        links.push((name, rest[..close].to_string()));
        rest = &rest[close..];
    }
    links
}

fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

#[test]
fn walkthrough_references_exist() {
    let doc = docs_dir().join("net-walkthrough.md");
    let text = std::fs::read_to_string(&doc).expect("docs/net-walkthrough.md");
    let links = code_links(&text);
    assert!(
        links.len() >= 15,
        "expected the walk-through to name its steps, found {links:?}"
    );
    let mut broken = Vec::new();
    for (name, target) in &links {
        let path = docs_dir().join(target);
        let Ok(source) = std::fs::read_to_string(&path) else {
            broken.push(format!("{target}: no such file"));
            continue;
        };
        if name.ends_with(".rs") {
            continue;
        }
        let func = name.rsplit("::").next().unwrap();
        let defined = source.lines().any(|l| {
            l.trim_start()
                .split("fn ")
                .nth(1)
                .is_some_and(|r| r.starts_with(func) && r[func.len()..].starts_with(['(', '<']))
        });
        if !defined {
            broken.push(format!("{target}: no `fn {func}`"));
        }
    }
    assert!(
        broken.is_empty(),
        "stale references in net-walkthrough.md:\n{}",
        broken.join("\n")
    );
}

#[test]
fn link_parser_reads_names_and_targets() {
    let links = code_links("see [`poll`](../a.rs) and [`E1000Rx::receive`](b.rs), not [x](c.rs)");
    assert_eq!(
        links,
        vec![
            ("poll".to_string(), "../a.rs".to_string()),
            ("E1000Rx::receive".to_string(), "b.rs".to_string())
        ]
    );
}

//! Keeps the repository's own explanations true. It runs on the host, without QEMU.
//!
//! - The packet walk-through (docs/net-walkthrough.md) names a function at every step as a link to
//!   its file, and writes the calls it claims as chains of links, `a` → `b`. Each linked file must
//!   still define the function (`Type::f` inside an `impl` block of `Type`), and each caller's body
//!   must still name its callee.
//! - Code and docs explain themselves: no tracked source, Markdown or TOML file (nor `.ci/run`)
//!   may send the reader to a document that is not in the repository (a design or reference file
//!   kept elsewhere, a report, an issue tracker, a past working session or branch). The rationale
//!   belongs in docs/.

use std::path::{Path, PathBuf};

use regex::Regex;

/// A markdown link of the form [`name`](target), with where it starts and ends in the text.
#[derive(Clone, Debug, PartialEq)]
struct Link {
    name: String,
    target: String,
    start: usize,
    end: usize,
}

/// Every [`name`](target) link of `text`, in order.
fn code_links(text: &str) -> Vec<Link> {
    let mut links = Vec::new();
    let mut pos = 0;
    while let Some(found) = text[pos..].find("[`") {
        let start = pos + found;
        let rest = &text[start + 2..];
        let Some(end) = rest.find("`](") else { break };
        let after = &rest[end + 3..];
        let Some(close) = after.find(')') else { break };
        let link_end = start + 2 + end + 3 + close + 1;
        links.push(Link {
            name: rest[..end].to_string(),
            target: after[..close].to_string(),
            start,
            end: link_end,
        });
        pos = link_end;
    }
    links
}

/// The calls a text claims: consecutive links with only an arrow between them, caller first.
fn call_edges(text: &str) -> Vec<(Link, Link)> {
    code_links(text)
        .windows(2)
        .filter(|pair| text[pair[0].end..pair[1].start].trim() == "→")
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect()
}

fn indent(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// The line index that closes the block opened at line `open`: the next line that is only `}` at
/// the same indentation (rustfmt's layout), or the end of `lines`.
fn block_end(lines: &[&str], open: usize, limit: usize) -> usize {
    let close = format!("{}}}", indent(lines[open]));
    (open + 1..limit)
        .find(|&i| lines[i].trim_end() == close)
        .unwrap_or(limit)
}

/// Whether `line` defines `fn func`.
fn defines(line: &str, func: &str) -> bool {
    line.trim_start()
        .split("fn ")
        .nth(1)
        .is_some_and(|r| r.starts_with(func) && r[func.len()..].starts_with(['(', '<']))
}

/// The bodies (signature included) of every definition of `name` in `source`: `f` anywhere in the
/// file, `Type::f` only inside an `impl` block whose header names `Type`. Declarations without a
/// body (trait items) do not count.
fn fn_bodies(source: &str, name: &str) -> Vec<String> {
    let lines: Vec<&str> = source.lines().collect();
    let (ty, func) = match name.rsplit_once("::") {
        Some((ty, func)) => (Some(ty), func),
        None => (None, name),
    };
    let regions: Vec<(usize, usize)> = match ty {
        None => vec![(0, lines.len())],
        Some(ty) => {
            let word = Regex::new(&format!(r"\b{}\b", regex::escape(ty))).unwrap();
            (0..lines.len())
                .filter(|&i| {
                    let l = lines[i].trim_start();
                    (l.starts_with("impl ") || l.starts_with("impl<")) && word.is_match(l)
                })
                .map(|i| (i + 1, block_end(&lines, i, lines.len())))
                .collect()
        }
    };
    let mut bodies = Vec::new();
    for (from, to) in regions {
        for k in from..to {
            if !defines(lines[k], func) {
                continue;
            }
            // The signature ends at the first `{` (a body) or `;` (a declaration).
            let has_body = lines[k..to]
                .iter()
                .map(|l| l.trim_end())
                .find(|l| l.contains('{') || l.ends_with(';'))
                .is_some_and(|l| l.contains('{'));
            if has_body {
                let end = block_end(&lines, k, to);
                bodies.push(lines[k..end.min(to - 1) + 1].join("\n"));
            }
        }
    }
    bodies
}

/// Whether `body` calls `callee` (the last segment of the link's name), as `f(`, `.f(` or
/// `f::<..>(`.
fn calls(body: &str, callee: &str) -> bool {
    let func = callee.rsplit("::").next().unwrap();
    Regex::new(&format!(r"\b{}\s*(::<[^(]*>)?\(", regex::escape(func)))
        .unwrap()
        .is_match(body)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn docs_dir() -> PathBuf {
    repo_root().join("docs")
}

fn walkthrough() -> String {
    std::fs::read_to_string(docs_dir().join("net-walkthrough.md")).expect("docs/net-walkthrough.md")
}

#[test]
fn walkthrough_references_exist() {
    let text = walkthrough();
    let links = code_links(&text);
    assert!(
        links.len() >= 15,
        "expected the walk-through to name its steps, found {links:?}"
    );
    let mut broken = Vec::new();
    for Link { name, target, .. } in &links {
        let Ok(source) = std::fs::read_to_string(docs_dir().join(target)) else {
            broken.push(format!("{target}: no such file"));
            continue;
        };
        if name.ends_with(".rs") {
            continue;
        }
        if fn_bodies(&source, name).is_empty() {
            broken.push(format!("{target}: no `fn {name}` with a body"));
        }
    }
    assert!(
        broken.is_empty(),
        "stale references in net-walkthrough.md:\n{}",
        broken.join("\n")
    );
}

#[test]
fn walkthrough_calls_are_real() {
    let text = walkthrough();
    let edges = call_edges(&text);
    assert!(
        edges.len() >= 20,
        "expected the walk-through to state its calls as `caller` → `callee` chains of links, \
         found {}",
        edges.len()
    );
    let mut wrong = Vec::new();
    for (caller, callee) in edges {
        let Ok(source) = std::fs::read_to_string(docs_dir().join(&caller.target)) else {
            wrong.push(format!("{}: no such file", caller.target));
            continue;
        };
        let bodies = fn_bodies(&source, &caller.name);
        if !bodies.iter().any(|b| calls(b, &callee.name)) {
            wrong.push(format!(
                "{} → {}: no `{}` in the body of `{}` in {}",
                caller.name, callee.name, callee.name, caller.name, caller.target
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "calls net-walkthrough.md claims that the code does not make:\n{}",
        wrong.join("\n")
    );
}

/// Phrases that point outside the repository. Each is written so that this file does not match
/// itself (a character class or an optional group splits the phrase).
fn outside_reference() -> Regex {
    Regex::new(concat!(
        // Design and reference notes kept elsewhere, and paths to them.
        r"\bDESIG[N]\b|(?i-u:course[- ]lab[s]\b|\.\./share[d]\b|/work/[a-z]|\bSTYL[E]\.md",
        // A report and an issue tracker.
        r"|\bsee[d] report|\bthe see[d]'s\b|\bthe issu[e]'s\b|\bissu[e] #?[0-9]",
        // Past working sessions and branches.
        r"|\bsessio[n] [0-9]|\bthis sessio[n]\b|\bsessio[n] start|\bthis branc[h]\b|\be1000 branc[h]\b)",
    ))
    .unwrap()
}

/// The files the repository tracks that can hold prose: *.rs, *.md, *.toml and `.ci/run`.
/// Walks the tree (skipping `.git` and the build directories) so that no `git` is needed.
fn prose_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                let skip = name == ".git" || (dir == root && name.starts_with("target"));
                if !skip {
                    walk(&path, root, out);
                }
            } else if name.ends_with(".rs") || name.ends_with(".md") || name.ends_with(".toml") {
                out.push(path);
            }
        }
    }
    let root = repo_root().canonicalize().expect("repository root");
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    files.push(root.join(".ci/run"));
    files.sort();
    files
}

#[test]
fn nothing_cites_documents_outside_the_repository() {
    let pattern = outside_reference();
    let root = repo_root().canonicalize().expect("repository root");
    let mut found = Vec::new();
    for path in prose_files() {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if let Some(m) = pattern.find(line) {
                let rel = path.strip_prefix(&root).unwrap_or(&path);
                found.push(format!("{}:{}: {}", rel.display(), n + 1, m.as_str()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "these lines point the reader at documents that are not in the repository; say the thing \
         itself, or point to a file in docs/:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_outside_reference_pattern_matches_phrases_not_words() {
    let p = outside_reference();
    // Written with a `|` inside, removed before matching, so that this file stays clean.
    for bad in [
        "see DES|IGN §3",
        "(course-la|bs §1.5)",
        "the iss|ue's targets",
        "iss|ue 5",
        "the se|ed report's method",
        "sess|ion 1's kernel",
        "this sess|ion",
        "not on this bra|nch?",
        "../sha|red/x",
    ] {
        let bad = bad.replace('|', "");
        assert!(p.is_match(&bad), "{bad}");
    }
    for good in [
        "docs/design.md",
        "the random seed",
        "from the seed.",
        "fn pattern(seed: u64)",
        "HTTP session",
        "sharedfd",
        "the issue of ordering",
        "a branch of the match",
    ] {
        assert!(!p.is_match(good), "{good}");
    }
}

#[test]
fn link_parser_reads_names_targets_and_chains() {
    let text = "see [`poll`](../a.rs) → [`E1000Rx::receive`](b.rs), not [x](c.rs), [`c`](d.rs)";
    let links = code_links(text);
    let names: Vec<(&str, &str)> = links
        .iter()
        .map(|l| (l.name.as_str(), l.target.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("poll", "../a.rs"),
            ("E1000Rx::receive", "b.rs"),
            ("c", "d.rs")
        ]
    );
    let edges: Vec<(String, String)> = call_edges(text)
        .into_iter()
        .map(|(a, b)| (a.name, b.name))
        .collect();
    assert_eq!(edges, [("poll".into(), "E1000Rx::receive".into())]);
}

#[test]
fn bodies_are_found_by_type_and_calls_by_name() {
    let src = "\
struct A;
impl Thing for A {
    fn run(&mut self) {
        self.step();
    }
}
impl B {
    fn run(&self) {
        other::<u8>(1);
    }
}
trait T {
    fn run(&self);
}
";
    assert_eq!(fn_bodies(src, "run").len(), 2);
    let a = fn_bodies(src, "A::run");
    assert_eq!(a.len(), 1);
    assert!(calls(&a[0], "step") && !calls(&a[0], "other"));
    let b = fn_bodies(src, "B::run");
    assert!(calls(&b[0], "mod::other"));
    assert!(fn_bodies(src, "T::run").is_empty());
    assert!(fn_bodies(src, "C::run").is_empty());
}

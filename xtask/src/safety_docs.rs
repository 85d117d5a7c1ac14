//! Every `unsafe fn` of the riscv crates states its contract in a `# Safety` section.
//!
//! Clippy's `missing_safety_doc` checks only functions a crate exports, and the kernel is a
//! binary that exports none, so this scan does it for `kernel/src` and `user/src`. A method in
//! a trait impl (`impl GlobalAlloc for ...`) is skipped: the trait states its contract.

use std::path::Path;

use anyhow::{Context, Result};

/// `path:line: fn` for each `unsafe fn` under the riscv crates' sources without `# Safety`.
pub fn undocumented(root: &Path) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for dir in ["kernel/src", "user/src"] {
        scan_dir(root, &root.join(dir), &mut found)?;
    }
    found.sort();
    Ok(found)
}

fn scan_dir(root: &Path, dir: &Path, found: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            scan_dir(root, &path, found)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path)?;
            let shown = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            for (line, f) in undocumented_in(&text) {
                found.push(format!("{shown}:{line}: {f}"));
            }
        }
    }
    Ok(())
}

/// (1-based line, the line) of each `unsafe fn` in `text` whose doc comment has no `# Safety`.
fn undocumented_in(text: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let code = line.trim_start();
        let is_unsafe_fn = !code.starts_with("//")
            && (code.starts_with("unsafe fn ") || code.contains(" unsafe fn "));
        if !is_unsafe_fn || in_trait_impl(&lines[..i], indent(line)) {
            continue;
        }
        // The doc comment and attributes right above the item.
        let documented = lines[..i]
            .iter()
            .rev()
            .map(|l| l.trim_start())
            .take_while(|l| l.starts_with("///") || l.starts_with("#[") || l.starts_with("//"))
            .any(|l| l.starts_with("/// # Safety"));
        if !documented {
            found.push((i + 1, code.to_string()));
        }
    }
    found
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Whether an item indented by `depth` after `above` sits in an `impl Trait for Type` block:
/// the nearest line above it indented less is that block's header.
fn in_trait_impl(above: &[&str], depth: usize) -> bool {
    above
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty() && indent(l) < depth)
        .is_some_and(|l| {
            let header = l.trim_start();
            (header.starts_with("impl") || header.starts_with("unsafe impl"))
                && header.contains(" for ")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsafe_fn_needs_a_safety_section() {
        let text = "\
/// Does a thing.
///
/// # Safety
/// The caller must own `x`.
#[inline]
pub unsafe fn documented(x: usize) {}

/// Does another thing.
pub(crate) unsafe fn undocumented() {}

impl Foo {
    /// # Safety
    /// None needed, but stated.
    pub unsafe fn method(&self) {}

    unsafe fn private(&self) {}
}

unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {}
}

const unsafe fn konst() {}

fn safe() {}
";
        let found: Vec<usize> = undocumented_in(text).into_iter().map(|(l, _)| l).collect();
        assert_eq!(found, [9, 16, 23]);
    }
}

//! The Rust snippets of the READMEs a user copies from, with the output each one shows. Shared (by `#[path]`) by
//! `build.rs`, which compiles the snippets into the check's binary, and by the test that runs them, so both read
//! the same blocks.

use std::path::Path;

/// The READMEs whose Rust snippets are run, relative to the workspace root.
pub const READMES: [&str; 2] = ["README.md", "crates/s3ec/README.md"];

/// One ```` ```rust ```` block and the ```` ```text ```` block that shows its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// `README.md:63`: the file and the line of the opening fence.
    pub id: String,
    /// A Rust module name derived from `id`.
    pub module: String,
    pub code: String,
    /// What the program prints on stdout.
    pub output: String,
}

/// The README's `[dependencies]` block: the one ```` ```toml ```` block that opens with `[dependencies]`.
pub fn dependencies_block(markdown: &str) -> Option<String> {
    fences(markdown)
        .into_iter()
        .find(|f| f.info == "toml" && f.body.trim_start().starts_with("[dependencies]"))
        .map(|f| f.body)
}

/// Every Rust block of `markdown` (read from `file`, named by its path relative to the workspace root). A Rust block
/// must be a whole program (a `fn main`) followed by a `text` block with its output, with only prose between: what
/// a user copies must run and show what it prints.
pub fn snippets(file: &str, markdown: &str) -> Result<Vec<Snippet>, String> {
    let fences = fences(markdown);
    let mut out = Vec::new();
    for (i, fence) in fences.iter().enumerate() {
        if fence.info != "rust" && !fence.info.starts_with("rust,") {
            continue;
        }
        let id = format!("{file}:{}", fence.line);
        if !fence.body.contains("fn main(") {
            return Err(format!(
                "{id}: a Rust snippet must be a whole program with `fn main`"
            ));
        }
        let output = fences
            .get(i + 1)
            .filter(|next| {
                next.info == "text" && next.prose_before.iter().all(|l| !l.starts_with('#'))
            })
            .ok_or_else(|| {
                format!("{id}: a Rust snippet must be followed by a ```text block with its output")
            })?;
        let module = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect::<String>();
        out.push(Snippet {
            id,
            module: format!("snippet_{module}"),
            code: fence.body.clone(),
            output: output.body.clone(),
        });
    }
    Ok(out)
}

/// Every snippet of [`READMES`] under `root`.
pub fn all_snippets(root: &Path) -> Result<Vec<Snippet>, String> {
    let mut all = Vec::new();
    for file in READMES {
        let path = root.join(file);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        all.extend(snippets(file, &text)?);
    }
    Ok(all)
}

struct Fence {
    info: String,
    /// 1-based line of the opening fence.
    line: usize,
    body: String,
    /// The lines between the previous fence and this one.
    prose_before: Vec<String>,
}

fn fences(markdown: &str) -> Vec<Fence> {
    let mut fences = Vec::new();
    let mut open: Option<Fence> = None;
    let mut prose = Vec::new();
    for (n, line) in markdown.lines().enumerate() {
        if let Some(fence) = open.as_mut() {
            if line.trim_end() == "```" {
                fences.extend(open.take());
            } else {
                fence.body.push_str(line);
                fence.body.push('\n');
            }
            continue;
        }
        match line.strip_prefix("```") {
            Some(info) => {
                open = Some(Fence {
                    info: info.trim().to_string(),
                    line: n + 1,
                    body: String::new(),
                    prose_before: std::mem::take(&mut prose),
                })
            }
            None => prose.push(line.to_string()),
        }
    }
    fences
}

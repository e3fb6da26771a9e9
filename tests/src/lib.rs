//! Workspace-level tests live in `tests/`; the unit test here checks the source tree itself, and
//! the doctest below is README's SDK example, compiled against the SDK as it is.
#![doc = include_str!("../../README.md")]

#[cfg(test)]
mod portability {
    use std::path::{Path, PathBuf};

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    fn is_guard(line: &str) -> bool {
        ["cfg(unix)", "cfg(target_os", "cfg(not(windows))"].iter().any(|g| line.contains(g))
    }

    /// Whether line `at` is under a `cfg` that excludes Windows: on a line between it and the
    /// start of the item holding it (the first line up at the left margin that is not an
    /// attribute), or in the attributes right above that item.
    fn guarded(lines: &[&str], at: usize) -> bool {
        let mut i = at;
        loop {
            let line = lines[i];
            if is_guard(line) {
                return true;
            }
            let item_start = !line.starts_with([' ', '\t', '#']) && !line.trim().is_empty();
            if item_start {
                return lines[..i].iter().rev().take_while(|l| l.starts_with("#[")).any(|l| is_guard(l));
            }
            if i == 0 {
                return false;
            }
            i -= 1;
        }
    }

    /// `cl-sdk` and `clx` build beyond Unix: every Unix-only API in the crates' sources is under a
    /// `cfg` that says so, with a portable path beside it.
    #[test]
    fn no_unguarded_unix_only_api_in_the_crates() {
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates");
        let mut files = Vec::new();
        for krate in std::fs::read_dir(&crates).unwrap().map(Result::unwrap) {
            let src = krate.path().join("src");
            if src.is_dir() {
                sources(&src, &mut files);
            }
        }
        assert!(files.len() > 50, "found the sources: {}", files.len());
        let mut unguarded = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            for (at, line) in lines.iter().enumerate() {
                let unix_only = line.contains("std::os::unix") || line.contains("tokio::signal::unix");
                if unix_only && !guarded(&lines, at) {
                    unguarded.push(format!("{}:{}: {}", file.display(), at + 1, line.trim()));
                }
            }
        }
        assert!(unguarded.is_empty(), "Unix-only APIs without cfg(unix):\n{}", unguarded.join("\n"));
    }

    #[test]
    fn the_guard_check_sees_both_ways() {
        let guarded_fn = ["#[cfg(unix)]", "fn f() {", "    std::os::unix::fs::symlink(a, b);", "}"];
        assert!(guarded(&guarded_fn, 2));
        let block = ["fn f() {", "    #[cfg(unix)]", "    {", "        std::os::unix::x();", "    }", "}"];
        assert!(guarded(&block, 3));
        let bare = ["use std::io;", "fn f() {", "    std::os::unix::fs::symlink(a, b);", "}"];
        assert!(!guarded(&bare, 2));
        let top = ["use std::os::unix::fs::FileExt;"];
        assert!(!guarded(&top, 0));
    }
}

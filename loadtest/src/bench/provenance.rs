//! What a benchmark ran on, so two tables can be compared: the commit of the working directory
//! (`-dirty` with uncommitted changes) and the UTC date; the machine is the report's
//! [`Machine`](crate::report::Machine).

use std::process::Command;

/// The commit of the working directory: `git rev-parse --short HEAD`, plus `-dirty` when
/// `git status --porcelain` lists anything; "unknown" outside git.
pub fn commit() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let rev = git(&["rev-parse", "--short", "HEAD"]);
    let status = rev.as_ref().and_then(|_| git(&["status", "--porcelain"]));
    commit_label(rev.as_deref(), status.as_deref())
}

/// The label from git's answers: `rev` is `rev-parse --short HEAD`'s output, `porcelain` is
/// `status --porcelain`'s (`None`: that command failed or was not run).
pub fn commit_label(rev: Option<&str>, porcelain: Option<&str>) -> String {
    let rev = rev.map(str::trim).unwrap_or("");
    if rev.is_empty() || rev.contains(char::is_whitespace) {
        return "unknown".into();
    }
    match porcelain {
        Some(p) if !p.trim().is_empty() => format!("{rev}-dirty"),
        _ => rev.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_clean_dirty_and_unknown() {
        assert_eq!(commit_label(Some("009b906\n"), Some("")), "009b906");
        assert_eq!(
            commit_label(Some("009b906\n"), Some(" M loadtest/src/main.rs\n?? x\n")),
            "009b906-dirty"
        );
        assert_eq!(commit_label(Some("009b906"), None), "009b906");
        assert_eq!(commit_label(None, None), "unknown");
        assert_eq!(commit_label(Some("  \n"), Some("")), "unknown");
        assert_eq!(
            commit_label(Some("fatal: not a git repository"), None),
            "unknown"
        );
    }
}

//! For the tests that need root (a network namespace of their own, files given to another
//! group, a client running as another uid). CI runs as root, and there they must run. Without
//! root they would fail, and only `ANYCASTD_TEST_UNPRIVILEGED=1` lets them skip; `tests/all.sh`
//! sets it when it is not run as root. So a root-only test never passes without doing
//! anything, unnoticed. Not used by the daemon.

/// The variable that lets root-only tests skip when not root.
pub const UNPRIVILEGED: &str = "ANYCASTD_TEST_UNPRIVILEGED";

/// Whether the root-only test `test` should skip: only when not root and [`UNPRIVILEGED`] is
/// set (it says so on stderr). Not root without it: `false`, with a hint, and the test goes on
/// to fail on the permission it lacks.
pub fn skip_unprivileged(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return false;
    }
    if std::env::var_os(UNPRIVILEGED).is_some() {
        eprintln!("SKIPPED {test}: needs root ({UNPRIVILEGED} is set)");
        return true;
    }
    eprintln!("{test} needs root: run the tests as root (CI does), or set {UNPRIVILEGED}=1 to skip it");
    false
}

/// An empty directory `anycastd-{area}-{tag}-{pid}` under the system temp dir (emptied first if
/// an earlier run left it), for tests that need files of their own.
pub fn fresh_dir(area: &str, tag: &str) -> TestDir {
    let d = std::env::temp_dir().join(format!("anycastd-{area}-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create a test directory");
    TestDir(d)
}

/// A test's directory, removed when the test ends (passed or panicked).
#[derive(Debug)]
pub struct TestDir(std::path::PathBuf);

impl std::ops::Deref for TestDir {
    type Target = std::path::PathBuf;
    fn deref(&self) -> &std::path::PathBuf {
        &self.0
    }
}

impl AsRef<std::path::Path> for TestDir {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether a test needing the program `what` (absent here) should skip: only with
/// [`UNPRIVILEGED`] set, as for root; otherwise it panics with `hint`, so that CI, which installs
/// everything, never passes such a test without running it.
pub fn skip_missing(test: &str, what: &str, hint: &str) -> bool {
    if std::env::var_os(UNPRIVILEGED).is_some() {
        eprintln!("SKIPPED {test}: {what} is not installed ({UNPRIVILEGED} is set)");
        return true;
    }
    panic!("{test}: {what} is not installed: {hint} (or set {UNPRIVILEGED}=1 to skip)");
}

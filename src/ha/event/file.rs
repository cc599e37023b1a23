//! `file` checks, event-driven: inotify on the file and its directory. (To be written.)

use super::Watch;
use std::path::Path;

/// The watcher of `path`. (Stub: polled only.)
pub fn watch(_path: &Path) -> Option<Watch> {
    None
}

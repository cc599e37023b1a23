//! `file` checks, event-driven: inotify on the file's parent directory (create, delete,
//! rename in or out, attributes, close-after-write, filtered to the file's name) and on the
//! directory itself going away. The file's removal (deleted, or renamed away) says what happened
//! by itself: its [`Wake`] carries the outcome (absent: a failure, or with `invert` a success),
//! so the failure needs no second look. Every other event wakes the check without an outcome:
//! it runs `file_probe` (a stat) at once. When the directory does not exist (yet), the watcher
//! retries every [`RETRY`]; the check's own poll covers the time in between.

use super::{dir_and_name, said, send, Wake, Watch, QUEUE};
use crate::ha::probe::ProbeOutcome;
use crate::ha::role::watch_dirs_with;
use futures_util::StreamExt;
use inotify::{EventMask, WatchMask};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long to wait before watching again when the directory is missing or the watch broke.
const RETRY: Duration = Duration::from_secs(1);

/// The watcher of `path` (`invert`: healthy while absent). Must be called inside a tokio
/// runtime.
pub fn watch(path: &Path, invert: bool) -> Option<Watch> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let task = tokio::spawn(run(path.to_path_buf(), invert, tx));
    Some(Watch::new(rx, task))
}

/// The outcome the removal of `path` is: the same words as `file_probe`'s.
fn removed(path: &Path, invert: bool) -> ProbeOutcome {
    let p = path.display();
    let (ok, detail) = if invert { (true, format!("{p} is absent")) } else { (false, format!("{p} is missing")) };
    said(ok, detail)
}

async fn run(path: PathBuf, invert: bool, tx: mpsc::Sender<Wake>) {
    let (dir, name) = dir_and_name(&path);
    loop {
        let mut stream = match watch_dirs_with(std::slice::from_ref(&dir), WatchMask::CREATE | WatchMask::ATTRIB) {
            Ok(s) => s,
            Err(_) => {
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        // The file may have changed while no watch was in place.
        if !send(&tx, None).await {
            return;
        }
        while let Some(Ok(ev)) = stream.next().await {
            let gone = crate::ha::role::watch_gone(ev.mask);
            let ours = ev.name.is_some() && ev.name.as_deref() == name.as_deref();
            if ours && ev.mask.intersects(EventMask::DELETE | EventMask::MOVED_FROM) {
                if !send(&tx, Some(removed(&path, invert))).await {
                    return;
                }
            } else if (ours || gone || ev.mask.contains(EventMask::Q_OVERFLOW)) && !send(&tx, None).await {
                return;
            }
            if gone {
                break;
            }
        }
        // The directory went away or the watch broke: do not spin while it stays away.
        tokio::time::sleep(RETRY).await;
    }
}

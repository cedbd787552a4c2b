//! Stopping a run part-way: a [`Cancel`] is shared between the code doing the work, which looks at it between
//! stages (and between a classifier's batches), and whoever wants it to stop: a Ctrl-C handler, a server's time
//! limit. Work that sees it set returns [`Interrupted`] instead of a result, so nothing half-done is recorded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A stop request: a flag any clone may set, and optionally a deadline after which it counts as set.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    flag: Arc<AtomicBool>,
    deadline: Option<Instant>,
}

impl Cancel {
    /// A request nobody has made yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same flag, also set once `at` has passed.
    pub fn with_deadline(mut self, at: Instant) -> Self {
        self.deadline = Some(at);
        self
    }

    /// Asks the work to stop at its next check. Returns whether it had been asked already.
    pub fn cancel(&self) -> bool {
        self.flag.swap(true, Ordering::SeqCst)
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst) || self.deadline.is_some_and(|at| Instant::now() >= at)
    }

    /// `Err(Interrupted)` when the work should stop.
    pub fn check(&self) -> Result<(), Interrupted> {
        if self.is_cancelled() {
            Err(Interrupted)
        } else {
            Ok(())
        }
    }
}

/// The work stopped because its [`Cancel`] was set; it produced nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_clone_sets_the_flag_for_all() {
        let a = Cancel::new();
        let b = a.clone();
        assert_eq!(a.check(), Ok(()));
        assert!(!b.cancel());
        assert!(a.is_cancelled());
        assert_eq!(a.check(), Err(Interrupted));
        assert!(b.cancel(), "the second request knows it is the second");
    }

    #[test]
    fn a_deadline_in_the_past_counts_as_cancelled() {
        let now = Instant::now();
        assert!(Cancel::new().with_deadline(now).is_cancelled());
        assert!(!Cancel::new().with_deadline(now + Duration::from_secs(3600)).is_cancelled());
    }
}

//! The draining loop of `kube-labeler run` (DESIGN.md §6): drain the pending-label list as soon
//! as STATE_DB says the server is connected, and retry with exponential backoff
//! ([`ctrmgr_core::retry::MASTER`]) after failures and while it says not connected.
//!
//! The loop is event-driven: it sleeps until an event (the server's `connected` changed, the
//! list became empty or non-empty), a retry deadline, or shutdown. Events are level-triggered
//! states, not edges, so a stale event only causes one needless, harmless drain.

use std::future::Future;
use std::time::Duration;

use ctrmgr_core::ports::{Labels, StateStore, Systemd};
use ctrmgr_core::retry;
use futures_util::{Stream, StreamExt};
use tokio::time::Instant;

use crate::LabelService;

/// What the drainer is told about STATE_DB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainerEvent {
    /// `KUBERNETES_MASTER|SERVER` `connected` is now this.
    Connected(bool),
    /// `KUBE_SERVER|PENDING_LABELS` is now empty (`false`) or not (`true`).
    Pending(bool),
}

/// Why [`run_drainer`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainerExit {
    /// The shutdown future completed.
    Shutdown,
    /// The event stream ended (the watch failed for good).
    EventsEnded,
}

/// Where the loop stands.
#[derive(Debug, Default)]
struct Drainer {
    connected: bool,
    pending: bool,
    /// Consecutive failed drains, for the backoff.
    failures: u32,
    /// When to drain next; `None` when there is nothing to do.
    next: Option<Instant>,
}

impl Drainer {
    fn backoff(&self) -> Duration {
        retry::MASTER.delay(self.failures)
    }

    fn on_event(&mut self, ev: DrainerEvent, now: Instant) {
        match ev {
            DrainerEvent::Connected(c) => {
                let rose = c && !self.connected;
                self.connected = c;
                if rose && self.pending {
                    // The master is back: try now, with a fresh backoff.
                    self.failures = 0;
                    self.next = Some(now);
                }
            }
            DrainerEvent::Pending(false) => {
                self.pending = false;
                self.failures = 0;
                self.next = None;
            }
            DrainerEvent::Pending(true) => {
                if !self.pending || self.next.is_none() {
                    self.pending = true;
                    self.next = Some(if self.connected {
                        now
                    } else {
                        now + self.backoff()
                    });
                }
            }
        }
    }
}

/// Drains `service`'s pending list according to `events` until `shutdown` completes or the
/// events end. A drain in progress is finished before shutdown is honoured (it is bounded by
/// the label timeout), so the list and kubelet are never left half-handled.
pub async fn run_drainer<S, L, D>(
    service: &LabelService<S, L, D>,
    events: impl Stream<Item = DrainerEvent>,
    shutdown: impl Future<Output = ()>,
) -> DrainerExit
where
    S: StateStore,
    L: Labels,
    D: Systemd,
{
    let mut events = std::pin::pin!(events);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut st = Drainer::default();
    loop {
        let deadline = st.next;
        let due = async move {
            match deadline {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = &mut shutdown => return DrainerExit::Shutdown,
            ev = events.next() => match ev {
                Some(ev) => st.on_event(ev, Instant::now()),
                None => return DrainerExit::EventsEnded,
            },
            () = due => {
                match service.drain().await {
                    Ok(d) => {
                        st.failures = 0;
                        if d.was_empty() || (d.removed && d.remaining == 0) {
                            st.pending = false;
                            st.next = None;
                        } else {
                            // Operations were appended meanwhile, or the list was rewritten:
                            // look again at once.
                            st.next = Some(Instant::now());
                        }
                    }
                    Err(e) => {
                        let wait = st.backoff();
                        st.failures = st.failures.saturating_add(1);
                        st.next = Some(Instant::now() + wait);
                        tracing::warn!(
                            error = %ctrmgr_core::retry::error_line(&e),
                            retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                            connected = st.connected,
                            "cannot drain pending labels; will retry"
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_labels_while_connected_are_drained_at_once() {
        let now = Instant::now();
        let mut d = Drainer::default();
        d.on_event(DrainerEvent::Connected(true), now);
        assert_eq!(d.next, None, "nothing pending");
        d.on_event(DrainerEvent::Pending(true), now);
        assert_eq!(d.next, Some(now));
    }

    #[test]
    fn pending_labels_while_disconnected_wait_a_backoff_until_the_server_is_back() {
        let now = Instant::now();
        let mut d = Drainer::default();
        d.on_event(DrainerEvent::Pending(true), now);
        assert_eq!(d.next, Some(now + retry::MASTER.delay(0)));
        d.failures = 5;
        let later = now + Duration::from_secs(1);
        d.on_event(DrainerEvent::Connected(true), later);
        assert_eq!(d.next, Some(later));
        assert_eq!(d.failures, 0);
    }

    #[test]
    fn an_emptied_list_cancels_the_next_attempt() {
        let now = Instant::now();
        let mut d = Drainer::default();
        d.on_event(DrainerEvent::Connected(true), now);
        d.on_event(DrainerEvent::Pending(true), now);
        d.on_event(DrainerEvent::Pending(false), now);
        assert_eq!(d.next, None);
    }
}

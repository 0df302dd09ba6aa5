//! The two things every retrying, error-reporting part of sonic-ctrmgr shares: one
//! exponential [`Backoff`], and one way to put an error and its causes on one line
//! ([`error_line`]).

use std::time::Duration;

/// Exponential backoff: `min` on the first retry, doubling, never more than `max`.
///
/// Every retry loop of the project uses one of the constants below (or one built with
/// [`Backoff::new`]), so the schedule is written once:
/// ```
/// use ctrmgr_core::retry::Backoff;
/// let b = Backoff::new(100, 1_000);
/// let ms: Vec<u64> = (0..6).map(|n| b.delay(n).as_millis() as u64).collect();
/// assert_eq!(ms, [100, 200, 400, 800, 1_000, 1_000]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    min_ms: u64,
    max_ms: u64,
}

/// Retries against the master or Redis (label drain, approvals): 250 ms doubling to 30 s.
pub const MASTER: Backoff = Backoff::new(250, 30_000);

/// Re-subscribing a lost Redis keyspace watch: 100 ms doubling to 5 s.
pub const WATCH: Backoff = Backoff::new(100, 5_000);

impl Backoff {
    /// A backoff from `min_ms` doubling up to `max_ms` (at least `min_ms`).
    pub const fn new(min_ms: u64, max_ms: u64) -> Self {
        let max_ms = if max_ms < min_ms { min_ms } else { max_ms };
        Self { min_ms, max_ms }
    }

    /// The same schedule with another ceiling (a configured maximum).
    pub const fn with_max(self, max_ms: u64) -> Self {
        Self::new(self.min_ms, max_ms)
    }

    /// The delay before retry number `retry` (0 for the first retry after a failure).
    pub fn delay(&self, retry: u32) -> Duration {
        Duration::from_millis(self.delay_ms(retry))
    }

    /// [`Backoff::delay`] in milliseconds.
    pub fn delay_ms(&self, retry: u32) -> u64 {
        self.min_ms
            .saturating_mul(1u64 << retry.min(32))
            .min(self.max_ms)
    }
}

/// An error and its causes on one line, `what: why: deeper why`.
///
/// A cause whose text the line already holds is left out (adapters often repeat their
/// source's message in their own, which would read "Connection refused …: Connection
/// refused"), and line breaks inside a message are folded into spaces, so the result is
/// always one line.
/// ```
/// use ctrmgr_core::retry::error_line;
/// let io = std::io::Error::new(std::io::ErrorKind::Other, "Connection refused");
/// assert_eq!(error_line(&io), "Connection refused");
/// ```
pub fn error_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let text = fold(&err.to_string());
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// Folds line breaks and the blanks around them into one space, and escapes every other
/// control character (`\u{1b}` stays text: a terminal escape in a hostile name must not reach
/// an operator's screen raw).
fn fold(s: &str) -> String {
    s.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);

    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    fn chain(texts: &[&'static str]) -> E {
        texts
            .iter()
            .rev()
            .fold(None, |src: Option<E>, t| Some(E(t, src.map(Box::new))))
            .expect("at least one text")
    }

    #[test]
    fn the_master_schedule_is_250_ms_doubling_to_30_s() {
        let ms: Vec<u64> = (0..10).map(|n| MASTER.delay_ms(n)).collect();
        assert_eq!(
            ms,
            [
                250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000
            ]
        );
        assert_eq!(MASTER.delay_ms(u32::MAX), 30_000);
    }

    #[test]
    fn a_ceiling_below_the_start_is_the_start() {
        assert_eq!(Backoff::new(500, 100).delay_ms(3), 500);
        assert_eq!(WATCH.with_max(50).delay_ms(0), 100);
    }

    #[test]
    fn causes_are_joined_and_repeats_left_out() {
        let e = chain(&[
            "cannot connect to redis instance redis (127.0.0.1:1) for CONFIG_DB",
            "Connection refused (os error 111)",
            "Connection refused (os error 111)",
        ]);
        assert_eq!(
            error_line(&e),
            "cannot connect to redis instance redis (127.0.0.1:1) for CONFIG_DB: Connection refused (os error 111)"
        );
        let e = chain(&["cannot read x: No such file", "No such file"]);
        assert_eq!(error_line(&e), "cannot read x: No such file");
    }

    #[test]
    fn other_control_characters_are_escaped() {
        // A serde "unknown field" message repeats a hostile key as it is (issue 15).
        assert_eq!(
            error_line(&chain(&["invalid spec", "unknown field `a\u{1b}[2J\0\t`"])),
            "invalid spec: unknown field `a\\u{1b}[2J\\u{0}\\t`"
        );
    }

    #[test]
    fn line_breaks_inside_a_message_are_folded() {
        let e = chain(&["cannot parse\n  at line 3", "expected `:`\r\n"]);
        assert_eq!(error_line(&e), "cannot parse at line 3: expected `:`");
    }
}

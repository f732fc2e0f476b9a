//! Typing indicators, coalesced: each direction of a conversation forwards at most one typing
//! frame per `TYPING_WINDOW`. A change that arrives inside the window is held and the latest
//! state goes out when the window ends, so the indicator is never left wrong, and a client
//! that sends typing frames in a loop costs every operator one frame per window, not one each.

use std::time::{Duration, Instant};

pub const TYPING_WINDOW: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Forward it now.
    Send,
    /// Held: call `flush` after this long.
    Hold(Duration),
    /// Nothing to forward (a repeat, or a flush is already due).
    Drop,
}

#[derive(Debug, Default)]
pub struct TypingGate {
    last_sent: Option<(Instant, bool)>,
    pending: Option<bool>,
    flush_due: bool,
}

impl TypingGate {
    pub fn offer(&mut self, active: bool, now: Instant) -> Decision {
        match self.last_sent {
            Some((at, _)) if now.duration_since(at) < TYPING_WINDOW => {
                self.pending = Some(active);
                if self.flush_due {
                    Decision::Drop
                } else {
                    self.flush_due = true;
                    Decision::Hold(TYPING_WINDOW - now.duration_since(at))
                }
            }
            _ => {
                self.last_sent = Some((now, active));
                self.pending = None;
                Decision::Send
            }
        }
    }

    /// The window ended: the held state, if it differs from what was last forwarded.
    pub fn flush(&mut self, now: Instant) -> Option<bool> {
        self.flush_due = false;
        let pending = self.pending.take()?;
        if self.last_sent.is_some_and(|(_, sent)| sent == pending) {
            return None;
        }
        self.last_sent = Some((now, pending));
        Some(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_becomes_one_frame_and_repeats_are_dropped() {
        let mut gate = TypingGate::default();
        let t0 = Instant::now();
        assert_eq!(gate.offer(true, t0), Decision::Send);
        let mut held = 0;
        for i in 1..100 {
            match gate.offer(true, t0 + Duration::from_millis(i)) {
                Decision::Hold(_) => held += 1,
                Decision::Drop => {}
                Decision::Send => panic!("a second frame inside the window"),
            }
        }
        assert_eq!(held, 1, "one flush is scheduled");
        assert_eq!(
            gate.flush(t0 + TYPING_WINDOW),
            None,
            "still typing: nothing new"
        );
    }

    #[test]
    fn the_last_change_inside_the_window_goes_out_when_it_ends() {
        let mut gate = TypingGate::default();
        let t0 = Instant::now();
        assert_eq!(gate.offer(true, t0), Decision::Send);
        assert_eq!(
            gate.offer(false, t0 + Duration::from_millis(500)),
            Decision::Hold(Duration::from_millis(1500))
        );
        assert_eq!(gate.flush(t0 + TYPING_WINDOW), Some(false));
        assert_eq!(
            gate.offer(true, t0 + Duration::from_millis(2100)),
            Decision::Hold(Duration::from_millis(1900)),
            "the flush opened a new window"
        );
    }

    #[test]
    fn after_the_window_a_frame_goes_straight_through() {
        let mut gate = TypingGate::default();
        let t0 = Instant::now();
        assert_eq!(gate.offer(true, t0), Decision::Send);
        assert_eq!(gate.offer(false, t0 + TYPING_WINDOW), Decision::Send);
    }
}

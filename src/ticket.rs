//! Public ticket ids (`SUPP-` + date + six letters or digits, e.g. `SUPP-20261122-7KQ2MX`) and the
//! aliases customers appear under.

use chrono::{DateTime, Utc};
use rand::Rng;

/// Letters and digits that cannot be confused with each other when read aloud or typed.
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const SUFFIX_LEN: usize = 6;

/// A new ticket id for a conversation opened at `now`.
pub fn new_ticket(now: DateTime<Utc>) -> String {
    let mut rng = rand::rng();
    let suffix: String = (0..SUFFIX_LEN)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("SUPP-{}-{suffix}", now.format("%Y%m%d"))
}

/// The alias operators see instead of a customer's identity: `User-` and the ticket's suffix.
pub fn alias_for(ticket: &str) -> String {
    let start = ticket.len().saturating_sub(SUFFIX_LEN);
    format!("User-{}", ticket.get(start..).unwrap_or(ticket))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_has_date_and_suffix() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let t = new_ticket(now);
        assert!(t.starts_with("SUPP-20261122-"), "{t}");
        assert_eq!(t.len(), "SUPP-20261122-".len() + SUFFIX_LEN);
        assert_eq!(alias_for(&t), format!("User-{}", &t[14..]));
    }
}

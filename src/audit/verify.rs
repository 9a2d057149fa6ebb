//! `audit verify`: every chain and every seal recomputed from the rows as stored, with each
//! difference reported by position and capture.
//!
//! - **Chains.** Each capture's events must run 1, 2, 3… in the global order, each linked to the
//!   previous event's stored hash, and each stored hash must be the hash of the row's bytes and
//!   that link. So a changed byte is found at its event, a deleted event as a gap in its
//!   capture's sequence, a swap or re-sequencing as events out of order, and an event inserted
//!   with a made-up hash as a hash that does not match.
//! - **Seals.** Each seal's signature (by a trusted key), its link to the previous seal, its
//!   count, and the Merkle root of the hashes in its range. What the chains cannot see — a
//!   capture's last events deleted, a forged event chained correctly, a whole chain rewritten
//!   consistently, events moved in the global order — changes a sealed range's count or root.
//! - **The kept digest.** The seal an auditor kept must still be in the log unchanged; since the
//!   later seals chain to it and every root is recomputed, the log then extends it.
//!
//! Events after the last seal are checked by their chains only and counted as unsealed. The
//! rows are read in pages, and only each capture's last hash and the open seal's leaves are kept,
//! so memory grows with the number of captures, not of events.

use std::collections::HashMap;

use ed25519_dalek::VerifyingKey;
use photo_ledger_store::chain::{self, EventHash, StoredEvent};
use photo_ledger_store::{Db, Position};
use serde::Serialize;

use super::seal::{self, merkle_root, Seal};
use super::AuditError;

/// Rows read per page.
const PAGE: i64 = 5_000;

/// How long the check waits for transactions older than the newest event to finish.
const SETTLE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// One thing found wrong, located as precisely as the evidence allows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Finding {
    /// The row's bytes (or its link) no longer hash to its stored hash.
    Altered {
        position: Position,
        capture_id: String,
        sequence: i64,
    },
    /// A row without a hash: written around the ledger.
    Unhashed {
        position: Position,
        capture_id: String,
        sequence: i64,
    },
    /// The row's link is not the stored hash of the capture's previous event.
    BrokenLink {
        position: Position,
        capture_id: String,
        sequence: i64,
    },
    /// Sequences missing from a capture's events, found before `position`.
    Missing {
        position: Position,
        capture_id: String,
        from_sequence: i64,
        to_sequence: i64,
    },
    /// A sequence at or below one already seen for the capture: events swapped, moved or
    /// re-sequenced.
    OutOfOrder {
        position: Position,
        capture_id: String,
        sequence: i64,
        after_sequence: i64,
    },
    /// A sealed range whose events no longer have the sealed count or root.
    SealMismatch {
        seal_no: i64,
        after: Position,
        last: Position,
        sealed_events: i64,
        found_events: i64,
    },
    /// A seal not signed over its fields by a trusted key.
    SealNotSigned { seal_no: i64 },
    /// A seal that does not follow the one before (numbering, link or running total).
    SealChainBroken { seal_no: i64 },
    /// The log no longer holds the seal the auditor kept.
    DigestNotExtended { seal_no: i64, reason: &'static str },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Altered { position, capture_id, sequence } => write!(
                f,
                "at {position}: event {capture_id}#{sequence} was modified (its bytes do not hash to its stored hash)"
            ),
            Finding::Unhashed { position, capture_id, sequence } => write!(
                f,
                "at {position}: event {capture_id}#{sequence} has no hash (inserted around the ledger)"
            ),
            Finding::BrokenLink { position, capture_id, sequence } => write!(
                f,
                "at {position}: event {capture_id}#{sequence} is not chained to the capture's previous event (one was replaced or inserted)"
            ),
            Finding::Missing { position, capture_id, from_sequence, to_sequence } => write!(
                f,
                "before {position}: events {capture_id}#{from_sequence}..={to_sequence} are missing (deleted)"
            ),
            Finding::OutOfOrder { position, capture_id, sequence, after_sequence } => write!(
                f,
                "at {position}: event {capture_id}#{sequence} follows #{after_sequence} (events swapped, moved or re-sequenced)"
            ),
            Finding::SealMismatch { seal_no, after, last, sealed_events, found_events } => write!(
                f,
                "seal {seal_no} (events after {after} up to {last}): sealed {sealed_events} events, the log holds {found_events} there{}",
                if sealed_events == found_events { " with other hashes or in another order (modified, inserted, deleted or rewritten)" } else { "" }
            ),
            Finding::SealNotSigned { seal_no } => write!(
                f,
                "seal {seal_no} is not signed over its contents by a trusted audit key"
            ),
            Finding::SealChainBroken { seal_no } => write!(
                f,
                "seal {seal_no} does not follow the seal before it (removed, replaced or renumbered)"
            ),
            Finding::DigestNotExtended { seal_no, reason } => write!(
                f,
                "the log no longer extends the kept digest (seal {seal_no}): {reason}"
            ),
        }
    }
}

/// What `audit verify` found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub events: u64,
    pub captures: u64,
    pub seals: u64,
    /// Events after the last seal: checked by their chains only.
    pub unsealed: u64,
    /// Whether a kept digest was checked.
    pub digest_checked: bool,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn verified(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Verifies the whole log against its seals, trusting seals signed by `trusted`, and, when an
/// auditor kept one, against `kept`.
pub async fn verify(
    db: &Db,
    trusted: &[VerifyingKey],
    kept: Option<&Seal>,
) -> Result<Report, AuditError> {
    let seals = seal::all(db).await?;
    let mut report = Report {
        seals: seals.len() as u64,
        digest_checked: kept.is_some(),
        ..Report::default()
    };
    check_seal_chain(&seals, trusted, &mut report.findings);
    if let Some(kept) = kept {
        check_kept(&seals, kept, trusted, &mut report.findings);
    }

    // Read after the seals: every sealed event is at or below the head. Events committed while
    // the check runs are left to the next one.
    let head = chain::settled_head(db, SETTLE_PATIENCE)
        .await?
        .unwrap_or(Position::START);
    let mut chains = Chains::default();
    let mut ranges = SealRanges::new(&seals);
    // From before the start of the global order: a row written around the ledger at a position
    // no reader consumes (a rowid of 0 or below, say) is still checked.
    let mut after = Position {
        txid: 0,
        position: i64::MIN,
    };
    loop {
        let rows = chain::read_stored(db, after, head, PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.position();
        for row in &rows {
            report.events += 1;
            chains.check(row, &mut report.findings);
            if !ranges.add(row, &mut report.findings) {
                report.unsealed += 1;
            }
        }
    }
    ranges.finish(&mut report.findings);
    report.captures = chains.last.len() as u64;
    Ok(report)
}

fn check_seal_chain(seals: &[Seal], trusted: &[VerifyingKey], findings: &mut Vec<Finding>) {
    let mut previous = EventHash::GENESIS;
    let mut total = 0;
    for (i, seal) in seals.iter().enumerate() {
        if !seal.signed_by(trusted) {
            findings.push(Finding::SealNotSigned {
                seal_no: seal.seal_no,
            });
        }
        if seal.seal_no != i as i64 + 1
            || EventHash::parse(&seal.previous) != Some(previous)
            || seal.total_events != total + seal.event_count
        {
            findings.push(Finding::SealChainBroken {
                seal_no: seal.seal_no,
            });
        }
        previous = seal.hash();
        total = seal.total_events;
    }
}

fn check_kept(seals: &[Seal], kept: &Seal, trusted: &[VerifyingKey], findings: &mut Vec<Finding>) {
    let reason = if !kept.signed_by(trusted) {
        Some("the kept digest is not signed by a trusted audit key")
    } else {
        match seals.iter().find(|s| s.seal_no == kept.seal_no) {
            None => Some("the log has no seal of that number any more"),
            Some(seal) if seal.hash() != kept.hash() => {
                Some("the log's seal of that number differs from the kept one")
            }
            Some(_) => None,
        }
    };
    if let Some(reason) = reason {
        findings.push(Finding::DigestNotExtended {
            seal_no: kept.seal_no,
            reason,
        });
    }
}

/// Each capture's last sequence and hash seen so far.
#[derive(Default)]
struct Chains {
    last: HashMap<String, (i64, EventHash)>,
}

impl Chains {
    fn check(&mut self, row: &StoredEvent, findings: &mut Vec<Finding>) {
        let position = row.position();
        let at = |findings: &mut Vec<Finding>, make: fn(Position, String, i64) -> Finding| {
            findings.push(make(position, row.aggregate_id.clone(), row.sequence))
        };
        let (last_sequence, last_hash) = self
            .last
            .get(&row.aggregate_id)
            .copied()
            .unwrap_or((0, EventHash::GENESIS));
        let link = row.stored_prev_hash();
        if row.sequence > last_sequence + 1 {
            findings.push(Finding::Missing {
                position,
                capture_id: row.aggregate_id.clone(),
                from_sequence: last_sequence + 1,
                to_sequence: row.sequence - 1,
            });
        } else if row.sequence <= last_sequence {
            findings.push(Finding::OutOfOrder {
                position,
                capture_id: row.aggregate_id.clone(),
                sequence: row.sequence,
                after_sequence: last_sequence,
            });
        } else if row.hash.is_some() && link != Some(last_hash) {
            at(findings, |position, capture_id, sequence| {
                Finding::BrokenLink {
                    position,
                    capture_id,
                    sequence,
                }
            });
        }
        // An unhashed row is chained past from the genesis hash, as the journal does.
        let hash = match row.stored_hash() {
            None => {
                at(findings, |position, capture_id, sequence| {
                    Finding::Unhashed {
                        position,
                        capture_id,
                        sequence,
                    }
                });
                EventHash::GENESIS
            }
            Some(hash) => {
                if row.bytes().hash(&link.unwrap_or(last_hash)) != hash {
                    at(findings, |position, capture_id, sequence| {
                        Finding::Altered {
                            position,
                            capture_id,
                            sequence,
                        }
                    });
                }
                hash
            }
        };
        self.last.insert(
            row.aggregate_id.clone(),
            (row.sequence.max(last_sequence), hash),
        );
    }
}

/// The seals' ranges, consumed in global order: the open seal's leaves, closed and compared when
/// the rows pass its last position.
struct SealRanges<'a> {
    seals: &'a [Seal],
    open: usize,
    leaves: Vec<[u8; 32]>,
}

impl<'a> SealRanges<'a> {
    fn new(seals: &'a [Seal]) -> Self {
        Self {
            seals,
            open: 0,
            leaves: Vec::new(),
        }
    }

    /// Adds a row to the seal covering it; false when no seal does.
    fn add(&mut self, row: &StoredEvent, findings: &mut Vec<Finding>) -> bool {
        while self
            .seals
            .get(self.open)
            .is_some_and(|seal| row.position() > seal.last())
        {
            self.close(findings);
        }
        if self.open < self.seals.len() {
            self.leaves.push(row.stored_hash().unwrap_or_default().0);
            true
        } else {
            false
        }
    }

    fn close(&mut self, findings: &mut Vec<Finding>) {
        let seal = &self.seals[self.open];
        let found = self.leaves.len() as i64;
        if found != seal.event_count || merkle_root(&self.leaves).to_hex() != seal.root {
            findings.push(Finding::SealMismatch {
                seal_no: seal.seal_no,
                after: self
                    .open
                    .checked_sub(1)
                    .map_or(Position::START, |i| self.seals[i].last()),
                last: seal.last(),
                sealed_events: seal.event_count,
                found_events: found,
            });
        }
        self.leaves.clear();
        self.open += 1;
    }

    /// Closes every seal still open: a seal whose events are gone closes empty.
    fn finish(mut self, findings: &mut Vec<Finding>) {
        while self.open < self.seals.len() {
            self.close(findings);
        }
    }
}

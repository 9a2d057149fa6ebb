//! Exports an auditor can take away and check with nothing but the export and our public key.
//!
//! An export of a school's events is a directory of three files:
//!
//! - `events.jsonl`: the events of the school's captures, in global order, each exactly as stored
//!   (payload and metadata as the stored text) with its hash, its link, and its place in the seal
//!   that covers it (`seal_no`, `leaf_index`);
//! - `seals.jsonl`: each covering seal, signed, with a Merkle multi-proof that the exported events
//!   of its range are among its leaves;
//! - `manifest.json`: the school, the period, counts, each file's line count and SHA-256, signed
//!   with the audit key.
//!
//! The log is exported seal by seal, so memory holds one seal's rows at a time whatever the
//! export's size; files are hashed as they are written.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signature, Signer, VerifyingKey};
use photo_ledger_store::chain::{self, EventHash, StoredEvent};
use photo_ledger_store::{Db, Position};
use rs_merkle::algorithms::Sha256 as MerkleSha256;
use rs_merkle::{MerkleProof, MerkleTree};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::key::AuditKey;
use super::seal::{self, Seal};
use super::AuditError;

pub const FORMAT: &str = "photo-ledger audit export v1";
const EVENTS: &str = "events.jsonl";
const SEALS: &str = "seals.jsonl";
const MANIFEST: &str = "manifest.json";

/// One line of `events.jsonl`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportedEvent {
    pub txid: i64,
    pub position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    /// The payload exactly as stored: the text the hash covers.
    pub payload: String,
    pub metadata: String,
    pub hash: String,
    pub prev_hash: String,
    pub seal_no: i64,
    pub leaf_index: usize,
}

/// One line of `seals.jsonl`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealProof {
    pub seal: Seal,
    /// The exported events' leaf indices in the seal, ascending.
    pub indices: Vec<usize>,
    /// rs_merkle's multi-proof of those leaves, hex.
    pub proof: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ExportFile {
    pub name: String,
    pub lines: u64,
    pub sha256: String,
}

/// `manifest.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub school_id: String,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub created_at: String,
    pub events: u64,
    pub captures: u64,
    pub seals: u64,
    /// The last seal of the log when the export was made.
    pub log_seal_no: i64,
    pub files: Vec<ExportFile>,
    pub public_key: String,
    /// Ed25519 over the manifest as JSON with this field empty.
    pub signature: String,
}

impl Manifest {
    /// What the signature covers: the manifest as JSON, with an empty signature.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut unsigned = self.clone();
        unsigned.signature.clear();
        serde_json::to_vec(&unsigned).expect("manifests serialise")
    }
}

/// Which events to export.
#[derive(Clone, Debug)]
pub struct ExportRequest {
    pub school_id: String,
    /// Events recorded at or after / before this time.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// A file written line by line and hashed as it goes.
struct HashedFile {
    name: &'static str,
    out: BufWriter<std::fs::File>,
    hasher: Sha256,
    lines: u64,
}

impl HashedFile {
    fn create(dir: &Path, name: &'static str) -> std::io::Result<Self> {
        Ok(Self {
            name,
            out: BufWriter::new(std::fs::File::create(dir.join(name))?),
            hasher: Sha256::new(),
            lines: 0,
        })
    }

    fn line(&mut self, value: &impl Serialize) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec(value).expect("export lines serialise");
        bytes.push(b'\n');
        self.hasher.update(&bytes);
        self.out.write_all(&bytes)?;
        self.lines += 1;
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<ExportFile> {
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        Ok(ExportFile {
            name: self.name.to_string(),
            lines: self.lines,
            sha256: hex::encode(self.hasher.finalize()),
        })
    }
}

/// The school a capture's first event names, read leniently from the stored payload.
fn school_of(event: &StoredEvent) -> Option<String> {
    if event.event_type != "QualificationVerified" {
        return None;
    }
    let payload: serde_json::Value = serde_json::from_str(&event.payload).ok()?;
    let verified = payload.get("QualificationVerified").unwrap_or(&payload);
    verified["school"]["school_id"].as_str().map(str::to_string)
}

fn recorded_at(event: &StoredEvent) -> Option<DateTime<Utc>> {
    let metadata: serde_json::Value = serde_json::from_str(&event.metadata).ok()?;
    metadata["recorded_at"].as_str()?.parse().ok()
}

/// Writes the export of `request` into `dir` (created; it must not hold an export already), from
/// the log as sealed: every seal's range is read, checked against its seal, and the school's
/// events in it written with a proof of their inclusion.
pub async fn export(
    db: &Db,
    key: &AuditKey,
    request: &ExportRequest,
    dir: &Path,
) -> Result<Manifest, AuditError> {
    let io = |e: std::io::Error| AuditError::Export(dir.to_path_buf(), e);
    std::fs::create_dir_all(dir).map_err(io)?;
    if dir.join(MANIFEST).exists() {
        return Err(AuditError::Export(
            dir.to_path_buf(),
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "the directory already holds an export",
            ),
        ));
    }
    let mut events_file = HashedFile::create(dir, EVENTS).map_err(io)?;
    let mut seals_file = HashedFile::create(dir, SEALS).map_err(io)?;
    let seals = seal::all(db).await?;
    let mut captures: HashSet<String> = HashSet::new();
    let mut after = Position::START;
    let mut exported = 0;
    for seal in &seals {
        let rows = chain::read_stored(db, after, seal.last(), seal.event_count + 1).await?;
        let leaves: Vec<[u8; 32]> = rows
            .iter()
            .map(|row| row.stored_hash().unwrap_or_default().0)
            .collect();
        if rows.len() as i64 != seal.event_count || seal::merkle_root(&leaves).to_hex() != seal.root
        {
            return Err(AuditError::LogDoesNotMatchSeal(seal.seal_no));
        }
        let mut indices = Vec::new();
        for (index, row) in rows.iter().enumerate() {
            if school_of(row).as_deref() == Some(request.school_id.as_str()) {
                captures.insert(row.aggregate_id.clone());
            }
            let at = recorded_at(row);
            let in_period = request
                .from
                .is_none_or(|from| at.is_some_and(|at| at >= from))
                && request.to.is_none_or(|to| at.is_some_and(|at| at < to));
            if !captures.contains(&row.aggregate_id) || !in_period {
                continue;
            }
            events_file
                .line(&ExportedEvent {
                    txid: row.txid,
                    position: row.position,
                    aggregate_type: row.aggregate_type.clone(),
                    aggregate_id: row.aggregate_id.clone(),
                    sequence: row.sequence,
                    event_type: row.event_type.clone(),
                    event_version: row.event_version.clone(),
                    payload: row.payload.clone(),
                    metadata: row.metadata.clone(),
                    hash: row.hash.clone().unwrap_or_default(),
                    prev_hash: row.prev_hash.clone().unwrap_or_default(),
                    seal_no: seal.seal_no,
                    leaf_index: index,
                })
                .map_err(io)?;
            indices.push(index);
        }
        if !indices.is_empty() {
            let proof = MerkleTree::<MerkleSha256>::from_leaves(&leaves).proof(&indices);
            exported += indices.len() as u64;
            seals_file
                .line(&SealProof {
                    seal: seal.clone(),
                    indices,
                    proof: hex::encode(proof.to_bytes()),
                })
                .map_err(io)?;
        }
        after = seal.last();
    }
    let files = vec![
        events_file.finish().map_err(io)?,
        seals_file.finish().map_err(io)?,
    ];
    let mut manifest = Manifest {
        format: FORMAT.to_string(),
        school_id: request.school_id.clone(),
        from: request.from,
        to: request.to,
        created_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        events: exported,
        captures: captures.len() as u64,
        seals: files[1].lines,
        log_seal_no: seals.last().map_or(0, |s| s.seal_no),
        files,
        public_key: key.public_key_hex(),
        signature: String::new(),
    };
    manifest.signature = hex::encode(key.signing().sign(&manifest.signed_bytes()).to_bytes());
    let text = serde_json::to_string_pretty(&manifest).expect("manifests serialise");
    std::fs::write(dir.join(MANIFEST), text).map_err(io)?;
    Ok(manifest)
}

/// What checking an export found.
#[derive(Debug, Default, Serialize)]
pub struct ExportReport {
    pub events: u64,
    pub seals: u64,
    /// Each problem, with the file and line it is on.
    pub findings: Vec<String>,
}

impl ExportReport {
    pub fn verified(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Checks an export with nothing but its files and the audit public key: the manifest's
/// signature, each file's SHA-256 and line count, each seal's signature, each event's hash and
/// its link to the capture's previous exported event, and each seal's proof that the exported
/// events are among its leaves.
pub fn verify_export(dir: &Path, public_key: &VerifyingKey) -> Result<ExportReport, AuditError> {
    let text = std::fs::read_to_string(dir.join(MANIFEST))
        .map_err(|e| AuditError::Export(dir.join(MANIFEST), e))?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| AuditError::UnreadableExport(format!("{MANIFEST}: {e}")))?;
    let mut report = ExportReport::default();
    let signed = hex::decode(&manifest.signature)
        .ok()
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .is_some_and(|signature| {
            manifest.public_key == hex::encode(public_key.to_bytes())
                && public_key
                    .verify_strict(&manifest.signed_bytes(), &signature)
                    .is_ok()
        });
    if !signed || manifest.format != FORMAT {
        report
            .findings
            .push(format!("{MANIFEST}: not signed by the given audit key"));
    }
    for expected in &manifest.files {
        if ![EVENTS, SEALS].contains(&expected.name.as_str()) {
            report.findings.push(format!(
                "{MANIFEST}: names an unexpected file {}",
                expected.name
            ));
            continue;
        }
        let found = file_digest(&dir.join(&expected.name))
            .map_err(|e| AuditError::Export(dir.join(&expected.name), e))?;
        if found != (expected.lines, expected.sha256.clone()) {
            report.findings.push(format!(
                "{}: {} lines with SHA-256 {}, the manifest says {} lines with {}",
                expected.name, found.0, found.1, expected.lines, expected.sha256
            ));
        }
    }

    // Seal by seal: the seal's proof line, then its events.
    let trusted = [*public_key];
    let seals = lines(&dir.join(SEALS))?;
    let mut events = lines(&dir.join(EVENTS))?.peekable();
    let mut last_of: std::collections::HashMap<String, (i64, String)> = Default::default();
    let mut event_line = 0;
    for (seal_line, text) in seals.enumerate() {
        let seal_line = seal_line + 1;
        let text = text.map_err(|e| AuditError::Export(dir.join(SEALS), e))?;
        let proof: SealProof = match serde_json::from_str(&text) {
            Ok(proof) => proof,
            Err(e) => {
                report
                    .findings
                    .push(format!("{SEALS}:{seal_line}: unreadable: {e}"));
                continue;
            }
        };
        report.seals += 1;
        let seal = &proof.seal;
        if !seal.signed_by(&trusted) {
            report.findings.push(format!(
                "{SEALS}:{seal_line}: seal {} is not signed by the given audit key",
                seal.seal_no
            ));
        }
        let mut leaves = Vec::new();
        let mut indices = Vec::new();
        while let Some(text) = events.next_if(|line| {
            line.as_ref()
                .ok()
                .and_then(|l| serde_json::from_str::<ExportedEvent>(l).ok())
                .is_some_and(|e| e.seal_no == seal.seal_no)
        }) {
            event_line += 1;
            let text = text.map_err(|e| AuditError::Export(dir.join(EVENTS), e))?;
            let event: ExportedEvent = serde_json::from_str(&text).expect("checked above");
            report.events += 1;
            check_event(&event, event_line, &mut last_of, &mut report.findings);
            leaves.push(EventHash::parse(&event.hash).unwrap_or_default().0);
            indices.push(event.leaf_index);
        }
        let proven = hex::decode(&proof.proof)
            .ok()
            .and_then(|bytes| MerkleProof::<MerkleSha256>::from_bytes(&bytes).ok())
            .zip(EventHash::parse(&seal.root))
            .is_some_and(|(merkle, root)| {
                indices == proof.indices
                    && merkle.verify(root.0, &indices, &leaves, seal.event_count as usize)
            });
        if !proven {
            report.findings.push(format!(
                "{SEALS}:{seal_line}: the events exported under seal {} are not the ones it sealed",
                seal.seal_no
            ));
        }
    }
    for text in events {
        event_line += 1;
        report.events += 1;
        report.findings.push(match text {
            Ok(_) => format!("{EVENTS}:{event_line}: unreadable, or under no seal of the export"),
            Err(e) => format!("{EVENTS}:{event_line}: unreadable: {e}"),
        });
    }
    if report.events != manifest.events || report.seals != manifest.seals {
        report.findings.push(format!(
            "{MANIFEST}: says {} events under {} seals, the files hold {} under {}",
            manifest.events, manifest.seals, report.events, report.seals
        ));
    }
    Ok(report)
}

fn check_event(
    event: &ExportedEvent,
    line: u64,
    last_of: &mut std::collections::HashMap<String, (i64, String)>,
    findings: &mut Vec<String>,
) {
    let at = |what: &str| {
        format!(
            "{EVENTS}:{line}: event {}#{} {what}",
            event.aggregate_id, event.sequence
        )
    };
    let link = EventHash::parse(&event.prev_hash).unwrap_or_default();
    let computed = photo_ledger_store::chain::EventBytes {
        aggregate_type: &event.aggregate_type,
        aggregate_id: &event.aggregate_id,
        sequence: event.sequence,
        event_type: &event.event_type,
        event_version: &event.event_version,
        payload: &event.payload,
        metadata: &event.metadata,
    }
    .hash(&link);
    if computed.to_hex() != event.hash {
        findings.push(at("does not hash to its recorded hash (modified)"));
    }
    if let Some((sequence, hash)) = last_of.get(&event.aggregate_id) {
        if event.sequence != sequence + 1 {
            findings.push(at(&format!(
                "follows #{sequence} (events missing or out of order)"
            )));
        } else if *hash != event.prev_hash {
            findings.push(at("is not chained to the capture's previous event"));
        }
    }
    last_of.insert(
        event.aggregate_id.clone(),
        (event.sequence, event.hash.clone()),
    );
}

fn lines(path: &Path) -> Result<std::io::Lines<BufReader<std::fs::File>>, AuditError> {
    Ok(BufReader::new(
        std::fs::File::open(path).map_err(|e| AuditError::Export(path.to_path_buf(), e))?,
    )
    .lines())
}

fn file_digest(path: &Path) -> std::io::Result<(u64, String)> {
    let mut reader = BufReader::new(std::fs::File::open(path)?);
    let mut hasher = Sha256::new();
    let mut lines = 0;
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line)? > 0 {
        hasher.update(&line);
        lines += 1;
        line.clear();
    }
    Ok((lines, hex::encode(hasher.finalize())))
}

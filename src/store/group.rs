//! Group commit of the small writes on the hot path: an SSO answer's event and the record
//! of its request ID, a session's touch. Callers hand a record to one task that owns the
//! writing; it takes everything queued (up to `MAX_BATCH`), writes it in one transaction,
//! and tells each caller once it is durable. Under load many sign-ons share one commit;
//! alone, a record is written at once. The queue is bounded: when it stays full for the
//! wait, the caller gets `StoreError::Busy` (a 503), never an unbounded backlog.

use std::time::Duration;

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use super::events::{self, NewEvent};
use super::{saml, sessions, Backend, Conn, StoreError};

const MAX_BATCH: usize = 256;
const QUEUE: usize = 4096;

/// A write that may share a commit with others.
#[derive(Debug, Clone)]
pub enum Small {
    Event(NewEvent),
    /// A request ID seen for the first time (SECURITY 6), with the event of its answer;
    /// written only if the ID is new, and then the result is `true`.
    FirstSight {
        app_id: i64,
        request_id: String,
        expires_at: i64,
        event: NewEvent,
    },
    /// A successful SSO answer: its event, its request ID when it answers a fresh request
    /// (as `FirstSight`), and the SP joining the portal session (for Single Logout) until
    /// `until`.
    Answer {
        first_sight: Option<(String, i64)>,
        participant: saml::Participant,
        until: i64,
        event: NewEvent,
    },
    /// A checked SAML request parked while the user signs in, with its ID recorded as used
    /// when `first_sight` is given (then `false` means a replay, and nothing is written).
    Park {
        app_id: i64,
        first_sight: Option<(String, i64)>,
        handle_hash: String,
        payload: String,
        expires_at: i64,
    },
    /// A session record saved (tower-sessions `save`: a touch or a change).
    Session {
        id_hash: String,
        data: String,
        expires_at: i64,
        user_id: Option<i64>,
    },
}

type Job = (Small, oneshot::Sender<Result<bool, StoreError>>);

#[derive(Debug, Clone)]
pub(super) struct Sender {
    queue: mpsc::Sender<Job>,
    wait: Duration,
}

pub(super) fn start(writer: AnyPool, backend: Backend, wait: Duration) -> Sender {
    let (queue, rx) = mpsc::channel(QUEUE);
    tokio::spawn(run(writer, backend, rx));
    Sender { queue, wait }
}

impl Sender {
    /// Whether the writing task still takes records.
    pub(super) fn running(&self) -> bool {
        !self.queue.is_closed()
    }

    pub(super) async fn submit(&self, small: Small) -> Result<bool, StoreError> {
        let stopped = || StoreError::Busy("the writer has stopped".into());
        let (ack, done) = oneshot::channel();
        match tokio::time::timeout(self.wait, self.queue.send((small, ack))).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(stopped()),
            Err(_) => return Err(StoreError::Busy("the write queue is full".into())),
        }
        // A batch waits at most for the writer and the busy timeout, but this record may
        // queue behind a few batches: past a bound, the caller is told "busy", and its
        // record is skipped if it has not been written yet.
        match tokio::time::timeout(self.wait * 3, done).await {
            Ok(r) => r.unwrap_or_else(|_| Err(stopped())),
            Err(_) => Err(StoreError::Busy("the write queue is too long".into())),
        }
    }
}

async fn run(writer: AnyPool, backend: Backend, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        commit(&writer, backend, std::mem::take(&mut batch)).await;
    }
}

/// Writes the batch in one transaction. If it fails for a reason other than a busy
/// database, each record is tried alone, so one bad record does not fail the others.
async fn commit(writer: &AnyPool, backend: Backend, mut batch: Vec<Job>) {
    // Records whose caller has gone (a closed connection, a timeout) are not written: a
    // request ID is not spent, nor a request parked, for nobody.
    batch.retain(|(_, ack)| !ack.is_closed());
    if batch.is_empty() {
        return;
    }
    let smalls: Vec<&Small> = batch.iter().map(|(s, _)| s).collect();
    match write_all(writer, backend, &smalls).await {
        Ok(results) => {
            for ((_, ack), r) in batch.into_iter().zip(results) {
                let _ = ack.send(Ok(r));
            }
        }
        // On SQLite "busy" means the file is locked: every record would wait the same.
        // On PostgreSQL it may be one record's deadlock or serialization failure with
        // another replica: the others are then tried alone, like any other failure.
        Err(e) if (e.is_busy() && backend == Backend::Sqlite) || batch.len() == 1 => {
            let reason = e.to_string();
            let mut e = Some(e);
            for (_, ack) in batch {
                let err = e.take().unwrap_or_else(|| StoreError::Busy(reason.clone()));
                let _ = ack.send(Err(err));
            }
        }
        Err(_) => {
            for (small, ack) in batch {
                if ack.is_closed() {
                    continue;
                }
                let r = write_all(writer, backend, &[&small]).await.map(|r| r[0]);
                let _ = ack.send(r);
            }
        }
    }
}

async fn write_all(
    writer: &AnyPool,
    backend: Backend,
    smalls: &[&Small],
) -> Result<Vec<bool>, StoreError> {
    let start = std::time::Instant::now();
    let mut tx = super::begin_on(writer.clone(), backend).await?;
    let mut out = Vec::with_capacity(smalls.len());
    for small in smalls {
        out.push(write(&mut tx, small).await?);
    }
    tx.commit().await?;
    crate::telemetry::group_commit(smalls.len(), start.elapsed());
    Ok(out)
}

async fn write(conn: &mut Conn, small: &Small) -> Result<bool, StoreError> {
    match small {
        Small::Event(e) => {
            events::insert(conn, e).await?;
        }
        Small::FirstSight {
            app_id,
            request_id,
            expires_at,
            event,
        } => {
            if !saml::first_sight(conn, *app_id, request_id, *expires_at).await? {
                return Ok(false);
            }
            events::insert(conn, event).await?;
        }
        Small::Answer {
            first_sight,
            participant,
            until,
            event,
        } => {
            if let Some((request_id, horizon)) = first_sight {
                if !saml::first_sight(conn, participant.app_id, request_id, *horizon).await? {
                    return Ok(false);
                }
            }
            saml::join(conn, participant, *until).await?;
            events::insert(conn, event).await?;
        }
        Small::Park {
            app_id,
            first_sight,
            handle_hash,
            payload,
            expires_at,
        } => {
            if let Some((request_id, horizon)) = first_sight {
                if !saml::first_sight(conn, *app_id, request_id, *horizon).await? {
                    return Ok(false);
                }
            }
            saml::park(conn, handle_hash, *app_id, payload, *expires_at).await?;
        }
        Small::Session {
            id_hash,
            data,
            expires_at,
            user_id,
        } => sessions::update(conn, id_hash, data, *expires_at, *user_id).await?,
    }
    Ok(true)
}

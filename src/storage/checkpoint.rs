//! SQLite's WAL checkpoints, off the writer's commit path.
//!
//! A SQLite commit appends pages to the WAL; a checkpoint copies them back into the database
//! file and syncs it. SQLite runs checkpoints in the commit that crosses 1,000 WAL pages, on the
//! one writer, where every write waits for them (a tenth of an ingest's time). Here the writer
//! checkpoints only past [`super::WAL_BACKSTOP_PAGES`], as a backstop; after each commit it pokes
//! this task, which lets the writes of the next [`GATHER`] join and then runs one passive
//! checkpoint on a reader connection, beside the writer (a passive checkpoint blocks neither
//! readers nor the writer). The WAL starts over at the first write that finds it fully copied.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection};
use tokio::sync::mpsc;

/// How long the checkpointer waits after a commit before it checkpoints, so that a page written
/// by many commits meanwhile is copied once (and the database file synced once).
pub const GATHER: Duration = Duration::from_millis(100);

/// The writer's side of the checkpointer; the task ends once every handle is dropped.
#[derive(Clone, Debug)]
pub struct Checkpoints {
    written: mpsc::Sender<()>,
}

impl Checkpoints {
    /// Starts the checkpointer on `readers` (a pool of the same database file).
    pub fn start(readers: DatabaseConnection) -> Self {
        let (written, pokes) = mpsc::channel(1);
        tokio::spawn(run(readers, pokes));
        Self { written }
    }

    /// Tells the checkpointer that a transaction committed (never waits: one poke pending is
    /// as good as many).
    pub fn written(&self) {
        let _ = self.written.try_send(());
    }
}

async fn run(readers: DatabaseConnection, mut pokes: mpsc::Receiver<()>) {
    while pokes.recv().await.is_some() {
        tokio::time::sleep(GATHER).await;
        // Commits until now are in this checkpoint; one after it starts pokes again.
        while pokes.try_recv().is_ok() {}
        if let Err(err) = readers
            .execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
            .await
        {
            tracing::warn!(error = %err, "SQLite WAL checkpoint failed; the writer's backstop checkpoints instead");
        }
    }
}

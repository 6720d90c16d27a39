//! `kpix-worker`: consumes import tasks from the Postgres-backed apalis
//! queue, parses the stored file, validates every row and writes values in
//! batches.
pub mod health;
pub mod jobs;
pub mod parse;
pub mod resolve;

//! import_jobs (to be written).

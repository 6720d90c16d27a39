//! One file per job kind.
pub mod import_kpi_values;
pub mod sweep_uploads;

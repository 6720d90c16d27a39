//! dashboards (to be written).

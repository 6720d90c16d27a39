//! kpis (to be written).

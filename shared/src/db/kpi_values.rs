//! kpi_values (to be written).

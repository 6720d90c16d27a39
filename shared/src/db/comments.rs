//! comments (to be written).

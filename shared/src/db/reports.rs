//! reports (to be written).

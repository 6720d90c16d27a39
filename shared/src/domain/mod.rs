//! Pure domain rules shared by the API and the worker: KPI vocabulary, the status rule, period arithmetic.

pub mod action;
pub mod kpi;
pub mod number;
pub mod period;
pub mod status;

pub use action::{ActionRuleError, ActionState, next_action_state};
pub use kpi::{
    ActionStatus, Direction, Frequency, ImportMode, ImportType, JobStatus, Role, Status,
    ThresholdError, Thresholds, UnknownVariant,
};
pub use number::{NumberError, check_number, parse_number};
pub use period::{
    DateOutOfRange, Period, PeriodError, PeriodRef, check_date, check_period_end, from_excel_serial,
};
pub use status::{Assessment, assess, distance_from_green, normalized_delta, trend_rank};

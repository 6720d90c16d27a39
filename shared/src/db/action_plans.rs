//! action_plans (to be written).

//! The life of an action plan item: how its status and progress may change.
//!
//! What people who run action plans expect: DONE means finished, so a DONE
//! action's progress is 100 (moving to DONE sets it); an action can be
//! worked on at any progress, 100 included, before someone calls it done; a
//! closed action (DONE or CANCELLED) is reopened by setting OPEN or
//! IN_PROGRESS, never turned straight into the other kind of closed (a
//! cancelled action that was in fact done is reopened, then marked done, so
//! that what happened stays readable), and its progress changes only once
//! it is reopened.

use super::kpi::ActionStatus;

/// Status and progress (0 to 100) of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionState {
    pub status: ActionStatus,
    pub progress: i32,
}

/// A change the rule refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ActionRuleError {
    /// DONE sent with a progress other than 100: the request contradicts
    /// itself, whatever the action's state.
    #[error("a DONE action's progress is 100")]
    DoneBelowFull,
    /// DONE to CANCELLED or back, without reopening.
    #[error("a {from} action must be reopened (OPEN or IN_PROGRESS) before it is {to}")]
    ClosedToClosed {
        from: ActionStatus,
        to: ActionStatus,
    },
    /// A new progress for an action that stays DONE.
    #[error("a DONE action's progress is 100; reopen it (OPEN or IN_PROGRESS) to change it")]
    ProgressOfDone,
}

impl ActionRuleError {
    /// True when the request is wrong whatever the action's state (the
    /// others conflict with the state it is in).
    pub fn is_invalid_request(&self) -> bool {
        matches!(self, Self::DoneBelowFull)
    }
}

/// The state after a change of `status` and/or `progress` (`None`: not
/// sent); `current` is `None` for a new action, which starts OPEN at 0 (a
/// new DONE action at 100).
pub fn next_action_state(
    current: Option<ActionState>,
    status: Option<ActionStatus>,
    progress: Option<i32>,
) -> Result<ActionState, ActionRuleError> {
    if status == Some(ActionStatus::Done) && progress.is_some_and(|p| p != 100) {
        return Err(ActionRuleError::DoneBelowFull);
    }
    let Some(current) = current else {
        let status = status.unwrap_or(ActionStatus::Open);
        let full = if status == ActionStatus::Done { 100 } else { 0 };
        return Ok(ActionState {
            status,
            progress: progress.unwrap_or(full),
        });
    };
    let next_status = status.unwrap_or(current.status);
    if current.status.is_closed() && next_status.is_closed() && next_status != current.status {
        return Err(ActionRuleError::ClosedToClosed {
            from: current.status,
            to: next_status,
        });
    }
    let next_progress = match progress {
        Some(p) if next_status == ActionStatus::Done && p != 100 => {
            return Err(ActionRuleError::ProgressOfDone);
        }
        Some(p) => p,
        None if next_status == ActionStatus::Done && current.status != ActionStatus::Done => 100,
        None => current.progress,
    };
    Ok(ActionState {
        status: next_status,
        progress: next_progress,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use ActionStatus::*;

    use super::*;

    fn state(status: ActionStatus, progress: i32) -> ActionState {
        ActionState { status, progress }
    }

    #[test]
    fn a_new_action_starts_open_at_0_or_done_at_100() {
        assert_eq!(next_action_state(None, None, None), Ok(state(Open, 0)));
        assert_eq!(
            next_action_state(None, Some(Done), None),
            Ok(state(Done, 100))
        );
        assert_eq!(
            next_action_state(None, Some(InProgress), Some(100)),
            Ok(state(InProgress, 100))
        );
        assert_eq!(
            next_action_state(None, Some(Cancelled), Some(30)),
            Ok(state(Cancelled, 30))
        );
        assert_eq!(
            next_action_state(None, Some(Done), Some(30)),
            Err(ActionRuleError::DoneBelowFull)
        );
    }

    #[test]
    fn done_means_100() {
        let open = Some(state(InProgress, 30));
        assert_eq!(
            next_action_state(open, Some(Done), None),
            Ok(state(Done, 100))
        );
        assert_eq!(
            next_action_state(open, Some(Done), Some(100)),
            Ok(state(Done, 100))
        );
        assert_eq!(
            next_action_state(open, Some(Done), Some(30)),
            Err(ActionRuleError::DoneBelowFull)
        );
        let done = Some(state(Done, 100));
        assert_eq!(
            next_action_state(done, None, Some(30)),
            Err(ActionRuleError::ProgressOfDone)
        );
        // re-sending what it is changes nothing
        assert_eq!(
            next_action_state(done, Some(Done), None),
            Ok(state(Done, 100))
        );
        assert_eq!(
            next_action_state(done, None, Some(100)),
            Ok(state(Done, 100))
        );
        // an open action may be at 100 before anyone calls it done
        assert_eq!(
            next_action_state(open, None, Some(100)),
            Ok(state(InProgress, 100))
        );
    }

    #[test]
    fn closed_actions_are_reopened_before_closing_the_other_way() {
        for (from, to) in [(Cancelled, Done), (Done, Cancelled)] {
            assert_eq!(
                next_action_state(Some(state(from, 40)), Some(to), None),
                Err(ActionRuleError::ClosedToClosed { from, to })
            );
        }
        // reopening keeps the progress unless given
        assert_eq!(
            next_action_state(Some(state(Cancelled, 40)), Some(InProgress), None),
            Ok(state(InProgress, 40))
        );
        assert_eq!(
            next_action_state(Some(state(Done, 100)), Some(Open), Some(60)),
            Ok(state(Open, 60))
        );
        // then it may be done
        assert_eq!(
            next_action_state(Some(state(InProgress, 40)), Some(Done), None),
            Ok(state(Done, 100))
        );
        // a cancelled action's progress and other fields may still be corrected
        assert_eq!(
            next_action_state(Some(state(Cancelled, 40)), None, Some(50)),
            Ok(state(Cancelled, 50))
        );
    }

    #[test]
    fn only_done_below_100_is_a_wrong_request_the_rest_conflict_with_the_state() {
        assert!(ActionRuleError::DoneBelowFull.is_invalid_request());
        assert!(!ActionRuleError::ProgressOfDone.is_invalid_request());
        assert!(
            !ActionRuleError::ClosedToClosed {
                from: Done,
                to: Cancelled
            }
            .is_invalid_request()
        );
        assert_eq!(
            ActionRuleError::ClosedToClosed {
                from: Cancelled,
                to: Done
            }
            .to_string(),
            "a CANCELLED action must be reopened (OPEN or IN_PROGRESS) before it is DONE"
        );
    }
}

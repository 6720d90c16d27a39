//! KPI vocabulary: the enums stored as TEXT and sent on the wire, and the thresholds with their ordering rule.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

/// A string that names no variant of the enum it was parsed as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value \"{0}\"")]
pub struct UnknownVariant(pub String);

/// Implements `ALL`, `as_str`, `FromStr` and `Display` from one table of
/// spellings, which must match the serde/sqlx `rename_all` of the enum (a test
/// checks it).
macro_rules! wire_names {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The spelling used on the wire and in the database.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl FromStr for $ty {
            type Err = UnknownVariant;

            /// Accepts the wire spelling in any letter case.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s))
                    .ok_or_else(|| UnknownVariant(s.to_owned()))
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// How often a KPI gets a value; each value belongs to one period of it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, sqlx::Type,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sqlx(type_name = "text", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Frequency {
    Daily,
    Weekly,
    Monthly,
    Quarterly,
    Yearly,
}

wire_names!(Frequency {
    Daily => "DAILY",
    Weekly => "WEEKLY",
    Monthly => "MONTHLY",
    Quarterly => "QUARTERLY",
    Yearly => "YEARLY",
});

/// Whether a higher or a lower value is the good one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, sqlx::Type,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sqlx(type_name = "text", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Direction {
    UpIsBetter,
    DownIsBetter,
}

wire_names!(Direction {
    UpIsBetter => "UP_IS_BETTER",
    DownIsBetter => "DOWN_IS_BETTER",
});

/// The colour of a value. Ordered worse-is-greater (Green < Orange < Red), so
/// `max()` over several statuses gives the worst one.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    sqlx::Type,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sqlx(type_name = "text", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    // Declaration order is the `Ord` order: keep it best to worst.
    Green,
    Orange,
    Red,
}

wire_names!(Status {
    Green => "GREEN",
    Orange => "ORANGE",
    Red => "RED",
});

/// A user's role inside their organization.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, sqlx::Type,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sqlx(type_name = "text", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Admin,
    User,
}

wire_names!(Role {
    Admin => "ADMIN",
    User => "USER",
});

/// Progress of an action plan item.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, sqlx::Type,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sqlx(type_name = "text", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionStatus {
    Open,
    InProgress,
    Done,
    Cancelled,
}

wire_names!(ActionStatus {
    Open => "OPEN",
    InProgress => "IN_PROGRESS",
    Done => "DONE",
    Cancelled => "CANCELLED",
});

impl ActionStatus {
    /// Done or cancelled: nothing is left to do.
    pub fn is_closed(self) -> bool {
        matches!(self, ActionStatus::Done | ActionStatus::Cancelled)
    }
}

/// Whether an import writes all rows or none (`atomic`) or keeps the good rows
/// (`partial`). Lowercase on the wire and in the database.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, sqlx::Type,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum ImportMode {
    Atomic,
    Partial,
}

wire_names!(ImportMode {
    Atomic => "atomic",
    Partial => "partial",
});

/// Where imported values come from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, sqlx::Type,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sqlx(type_name = "text", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ImportType {
    Csv,
    Excel,
    Api,
}

wire_names!(ImportType {
    Csv => "CSV",
    Excel => "EXCEL",
    Api => "API",
});

/// Lifecycle of a background import job.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, sqlx::Type,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sqlx(type_name = "text", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Pending,
    Running,
    Success,
    Failed,
}

wire_names!(JobStatus {
    Pending => "PENDING",
    Running => "RUNNING",
    Success => "SUCCESS",
    Failed => "FAILED",
});

/// The levels a KPI's values are judged against; see [`crate::domain::status::assess`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub green: Decimal,
    pub orange: Decimal,
    /// Optional level beyond orange that marks a RED value as critical.
    pub red: Option<Decimal>,
}

/// Thresholds not ordered for their direction; `field` names the offending
/// request field.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{field}: {message}")]
pub struct ThresholdError {
    pub field: &'static str,
    pub message: String,
}

impl Thresholds {
    /// Checks the ordering rule (DESIGN §3): UP_IS_BETTER needs
    /// green >= orange >= red, DOWN_IS_BETTER green <= orange <= red; equality
    /// is allowed and red is optional.
    pub fn validate(&self, direction: Direction) -> Result<(), ThresholdError> {
        let (orange_ok, red_ok, orange_rule, red_rule) = match direction {
            Direction::UpIsBetter => (
                self.orange <= self.green,
                self.red.is_none_or(|red| red <= self.orange),
                "<= threshold_green",
                "<= threshold_orange",
            ),
            Direction::DownIsBetter => (
                self.orange >= self.green,
                self.red.is_none_or(|red| red >= self.orange),
                ">= threshold_green",
                ">= threshold_orange",
            ),
        };
        if !orange_ok {
            return Err(ThresholdError {
                field: "threshold_orange",
                message: format!("for {direction} threshold_orange must be {orange_rule}"),
            });
        }
        if !red_ok {
            return Err(ThresholdError {
                field: "threshold_red",
                message: format!("for {direction} threshold_red must be {red_rule}"),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    /// Serializes with serde and checks the spelling equals `as_str`, parses it
    /// back with serde and `FromStr` (in three letter cases), and returns the
    /// spellings in declaration order.
    fn spellings<T>(all: &[T], as_str: fn(&T) -> &'static str) -> Vec<&'static str>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + FromStr<Err = UnknownVariant>,
        T: PartialEq + fmt::Debug + fmt::Display,
    {
        all.iter()
            .map(|v| {
                let name = as_str(v);
                assert_eq!(serde_json::to_string(v).unwrap(), format!("\"{name}\""));
                assert_eq!(
                    &serde_json::from_str::<T>(&format!("\"{name}\"")).unwrap(),
                    v
                );
                assert_eq!(&name.parse::<T>().unwrap(), v);
                assert_eq!(&name.to_lowercase().parse::<T>().unwrap(), v);
                assert_eq!(&name.to_uppercase().parse::<T>().unwrap(), v);
                assert_eq!(v.to_string(), name);
                name
            })
            .collect()
    }

    #[test]
    fn wire_spellings_match_serde_and_round_trip() {
        assert_eq!(
            spellings(Frequency::ALL, Frequency::as_str),
            ["DAILY", "WEEKLY", "MONTHLY", "QUARTERLY", "YEARLY"]
        );
        assert_eq!(
            spellings(Direction::ALL, Direction::as_str),
            ["UP_IS_BETTER", "DOWN_IS_BETTER"]
        );
        assert_eq!(
            spellings(Status::ALL, Status::as_str),
            ["GREEN", "ORANGE", "RED"]
        );
        assert_eq!(spellings(Role::ALL, Role::as_str), ["ADMIN", "USER"]);
        assert_eq!(
            spellings(ActionStatus::ALL, ActionStatus::as_str),
            ["OPEN", "IN_PROGRESS", "DONE", "CANCELLED"]
        );
        assert_eq!(
            spellings(ImportMode::ALL, ImportMode::as_str),
            ["atomic", "partial"]
        );
        assert_eq!(
            spellings(ImportType::ALL, ImportType::as_str),
            ["CSV", "EXCEL", "API"]
        );
        assert_eq!(
            spellings(JobStatus::ALL, JobStatus::as_str),
            ["PENDING", "RUNNING", "SUCCESS", "FAILED"]
        );
    }

    #[test]
    fn from_str_is_case_insensitive_but_exact() {
        assert_eq!(
            "In_Progress".parse::<ActionStatus>(),
            Ok(ActionStatus::InProgress)
        );
        assert_eq!("ATOMIC".parse::<ImportMode>(), Ok(ImportMode::Atomic));
        assert_eq!(
            "INPROGRESS".parse::<ActionStatus>(),
            Err(UnknownVariant("INPROGRESS".to_owned()))
        );
        assert_eq!(
            " GREEN".parse::<Status>(),
            Err(UnknownVariant(" GREEN".to_owned()))
        );
        assert_eq!(
            "UpIsBetter".parse::<Direction>(),
            Err(UnknownVariant("UpIsBetter".to_owned()))
        );
        assert_eq!(
            UnknownVariant("PURPLE".to_owned()).to_string(),
            "unknown value \"PURPLE\""
        );
    }

    #[test]
    fn serde_rejects_other_spellings() {
        assert!(serde_json::from_str::<Direction>("\"UpIsBetter\"").is_err());
        assert!(serde_json::from_str::<ImportMode>("\"ATOMIC\"").is_err());
    }

    #[test]
    fn status_orders_worse_as_greater() {
        assert!(Status::Green < Status::Orange);
        assert!(Status::Orange < Status::Red);
        let worst = [Status::Orange, Status::Green, Status::Red, Status::Green]
            .into_iter()
            .max();
        assert_eq!(worst, Some(Status::Red));
        assert_eq!(
            [Status::Green, Status::Orange].into_iter().max(),
            Some(Status::Orange)
        );
    }

    #[test]
    fn closed_action_statuses() {
        assert!(!ActionStatus::Open.is_closed());
        assert!(!ActionStatus::InProgress.is_closed());
        assert!(ActionStatus::Done.is_closed());
        assert!(ActionStatus::Cancelled.is_closed());
    }

    fn t(green: Decimal, orange: Decimal, red: Option<Decimal>) -> Thresholds {
        Thresholds { green, orange, red }
    }

    #[test]
    fn valid_thresholds_pass() {
        let up = Direction::UpIsBetter;
        let down = Direction::DownIsBetter;
        assert_eq!(t(dec!(90), dec!(80), None).validate(up), Ok(()));
        assert_eq!(t(dec!(90), dec!(80), Some(dec!(50))).validate(up), Ok(()));
        assert_eq!(t(dec!(90), dec!(90), Some(dec!(90))).validate(up), Ok(()));
        assert_eq!(t(dec!(-1), dec!(-2.5), Some(dec!(-3))).validate(up), Ok(()));
        assert_eq!(t(dec!(5), dec!(10), None).validate(down), Ok(()));
        assert_eq!(t(dec!(5), dec!(10), Some(dec!(20))).validate(down), Ok(()));
        assert_eq!(t(dec!(5), dec!(5), Some(dec!(5))).validate(down), Ok(()));
        assert_eq!(t(dec!(0), dec!(0.01), None).validate(down), Ok(()));
    }

    #[test]
    fn misordered_green_orange_names_threshold_orange() {
        let err = t(dec!(80), dec!(90), None)
            .validate(Direction::UpIsBetter)
            .unwrap_err();
        assert_eq!(
            err,
            ThresholdError {
                field: "threshold_orange",
                message: "for UP_IS_BETTER threshold_orange must be <= threshold_green".to_owned(),
            }
        );
        assert_eq!(
            err.to_string(),
            "threshold_orange: for UP_IS_BETTER threshold_orange must be <= threshold_green"
        );

        let err = t(dec!(10), dec!(5), None)
            .validate(Direction::DownIsBetter)
            .unwrap_err();
        assert_eq!(err.field, "threshold_orange");
        assert_eq!(
            err.message,
            "for DOWN_IS_BETTER threshold_orange must be >= threshold_green"
        );
    }

    #[test]
    fn misplaced_red_names_threshold_red() {
        let err = t(dec!(90), dec!(80), Some(dec!(80.01)))
            .validate(Direction::UpIsBetter)
            .unwrap_err();
        assert_eq!(err.field, "threshold_red");
        assert_eq!(
            err.message,
            "for UP_IS_BETTER threshold_red must be <= threshold_orange"
        );

        let err = t(dec!(5), dec!(10), Some(dec!(9.99)))
            .validate(Direction::DownIsBetter)
            .unwrap_err();
        assert_eq!(err.field, "threshold_red");
        assert_eq!(
            err.message,
            "for DOWN_IS_BETTER threshold_red must be >= threshold_orange"
        );
    }

    #[test]
    fn green_orange_error_reported_before_red() {
        // Both wrong: the green/orange pair is reported first.
        let err = t(dec!(80), dec!(90), Some(dec!(100)))
            .validate(Direction::UpIsBetter)
            .unwrap_err();
        assert_eq!(err.field, "threshold_orange");
    }

    #[test]
    fn same_thresholds_are_valid_for_one_direction_only() {
        let up_shaped = t(dec!(90), dec!(80), Some(dec!(70)));
        assert!(up_shaped.validate(Direction::UpIsBetter).is_ok());
        assert_eq!(
            up_shaped
                .validate(Direction::DownIsBetter)
                .unwrap_err()
                .field,
            "threshold_orange"
        );
    }
}

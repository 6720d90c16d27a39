//! The status rule (DESIGN §3): the one function that colours a value, plus the deltas used to rank KPIs.

use rust_decimal::Decimal;

use super::kpi::{Direction, Status, Thresholds};

/// The colour of a value and whether it is critical (RED and at or beyond the
/// red level).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assessment {
    pub status: Status,
    pub critical: bool,
}

/// Whether `value` meets `threshold`: `value >= threshold` for UP_IS_BETTER,
/// `value <= threshold` for DOWN_IS_BETTER. Inclusive.
pub fn meets(direction: Direction, value: Decimal, threshold: Decimal) -> bool {
    match direction {
        Direction::UpIsBetter => value >= threshold,
        Direction::DownIsBetter => value <= threshold,
    }
}

/// THE status function of the product: GREEN when the green threshold is met,
/// else ORANGE when the orange one is met, else RED; a RED value is critical
/// when a red threshold is set and the value is at or beyond it in the bad
/// direction (UP: `value <= red`, DOWN: `value >= red`).
pub fn assess(value: Decimal, direction: Direction, thresholds: &Thresholds) -> Assessment {
    let status = if meets(direction, value, thresholds.green) {
        Status::Green
    } else if meets(direction, value, thresholds.orange) {
        Status::Orange
    } else {
        Status::Red
    };
    let critical = status == Status::Red
        && thresholds.red.is_some_and(|red| match direction {
            Direction::UpIsBetter => value <= red,
            Direction::DownIsBetter => value >= red,
        });
    Assessment { status, critical }
}

/// `current - previous`, negated for DOWN_IS_BETTER, so a positive result is
/// always an improvement. Saturates at the bounds of `Decimal` instead of
/// panicking.
pub fn normalized_delta(direction: Direction, current: Decimal, previous: Decimal) -> Decimal {
    match direction {
        Direction::UpIsBetter => current.saturating_sub(previous),
        Direction::DownIsBetter => previous.saturating_sub(current),
    }
}

/// How far `value` falls short of green, as a fraction of `|green|` (0.25 =
/// 25 % short); the absolute shortfall when green is zero; zero when green is
/// met. Never negative, so a larger result means a larger risk.
pub fn distance_from_green(
    direction: Direction,
    value: Decimal,
    thresholds: &Thresholds,
) -> Decimal {
    let green = thresholds.green;
    if meets(direction, value, green) {
        return Decimal::ZERO;
    }
    let shortfall = match direction {
        Direction::UpIsBetter => green.saturating_sub(value),
        Direction::DownIsBetter => value.saturating_sub(green),
    };
    if green.is_zero() {
        shortfall
    } else {
        // A tiny |green| can overflow the quotient: saturate, it only ranks.
        shortfall.checked_div(green.abs()).unwrap_or(Decimal::MAX)
    }
}

/// How a KPI's last change ranks among the improving (positive) and
/// worsening (negative) ones: [`normalized_delta`] relative to the previous
/// value, so 10 → 12 outranks 100 → 110; the plain delta when the previous
/// value is zero. Saturates rather than panicking.
pub fn trend_rank(direction: Direction, current: Decimal, previous: Decimal) -> Decimal {
    let delta = normalized_delta(direction, current, previous);
    if previous.is_zero() {
        delta
    } else {
        delta
            .checked_div(previous.abs())
            .unwrap_or(if delta.is_sign_negative() {
                Decimal::MIN
            } else {
                Decimal::MAX
            })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    use super::*;

    const UP: Direction = Direction::UpIsBetter;
    const DOWN: Direction = Direction::DownIsBetter;

    fn t(green: Decimal, orange: Decimal, red: Option<Decimal>) -> Thresholds {
        Thresholds { green, orange, red }
    }

    fn a(status: Status, critical: bool) -> Assessment {
        Assessment { status, critical }
    }

    const GREEN: Assessment = Assessment {
        status: Status::Green,
        critical: false,
    };
    const ORANGE: Assessment = Assessment {
        status: Status::Orange,
        critical: false,
    };
    const RED: Assessment = Assessment {
        status: Status::Red,
        critical: false,
    };
    const CRITICAL: Assessment = Assessment {
        status: Status::Red,
        critical: true,
    };

    #[test]
    fn up_boundaries_are_inclusive() {
        let th = t(dec!(90), dec!(80), Some(dec!(50)));
        assert_eq!(assess(dec!(100), UP, &th), GREEN);
        assert_eq!(assess(dec!(90), UP, &th), GREEN);
        assert_eq!(assess(dec!(89.99), UP, &th), ORANGE);
        assert_eq!(assess(dec!(80), UP, &th), ORANGE);
        assert_eq!(assess(dec!(79.99), UP, &th), RED);
        assert_eq!(assess(dec!(50.01), UP, &th), RED);
        assert_eq!(assess(dec!(50), UP, &th), CRITICAL);
        assert_eq!(assess(dec!(-10), UP, &th), CRITICAL);
    }

    #[test]
    fn down_boundaries_are_inclusive() {
        let th = t(dec!(5), dec!(10), Some(dec!(20)));
        assert_eq!(assess(dec!(0), DOWN, &th), GREEN);
        assert_eq!(assess(dec!(5), DOWN, &th), GREEN);
        assert_eq!(assess(dec!(5.01), DOWN, &th), ORANGE);
        assert_eq!(assess(dec!(10), DOWN, &th), ORANGE);
        assert_eq!(assess(dec!(10.01), DOWN, &th), RED);
        assert_eq!(assess(dec!(19.99), DOWN, &th), RED);
        assert_eq!(assess(dec!(20), DOWN, &th), CRITICAL);
        assert_eq!(assess(dec!(1000), DOWN, &th), CRITICAL);
    }

    #[test]
    fn equal_green_and_orange_leave_no_orange_band() {
        let th = t(dec!(100), dec!(100), None);
        assert_eq!(assess(dec!(100), UP, &th), GREEN);
        assert_eq!(assess(dec!(99.999), UP, &th), RED);
        assert_eq!(assess(dec!(100), DOWN, &th), GREEN);
        assert_eq!(assess(dec!(100.001), DOWN, &th), RED);
    }

    #[test]
    fn all_three_equal_makes_every_red_critical() {
        let th = t(dec!(7), dec!(7), Some(dec!(7)));
        assert_eq!(assess(dec!(7), UP, &th), GREEN);
        assert_eq!(assess(dec!(6.9), UP, &th), CRITICAL);
        assert_eq!(assess(dec!(7), DOWN, &th), GREEN);
        assert_eq!(assess(dec!(7.1), DOWN, &th), CRITICAL);
    }

    #[test]
    fn no_red_threshold_never_critical() {
        let th = t(dec!(90), dec!(80), None);
        assert_eq!(assess(dec!(-1000000), UP, &th), RED);
        let th = t(dec!(5), dec!(10), None);
        assert_eq!(assess(dec!(1000000), DOWN, &th), RED);
    }

    #[test]
    fn negative_thresholds_and_values() {
        // E.g. a margin in points that should stay above -2.
        let th = t(dec!(-2), dec!(-5), Some(dec!(-10)));
        assert_eq!(assess(dec!(0), UP, &th), GREEN);
        assert_eq!(assess(dec!(-2), UP, &th), GREEN);
        assert_eq!(assess(dec!(-2.01), UP, &th), ORANGE);
        assert_eq!(assess(dec!(-5), UP, &th), ORANGE);
        assert_eq!(assess(dec!(-9.99), UP, &th), RED);
        assert_eq!(assess(dec!(-10), UP, &th), CRITICAL);

        let th = t(dec!(-10), dec!(-5), Some(dec!(-1)));
        assert_eq!(assess(dec!(-10), DOWN, &th), GREEN);
        assert_eq!(assess(dec!(-7), DOWN, &th), ORANGE);
        assert_eq!(assess(dec!(-4), DOWN, &th), RED);
        assert_eq!(assess(dec!(-1), DOWN, &th), CRITICAL);
        assert_eq!(assess(dec!(0), DOWN, &th), CRITICAL);
    }

    #[test]
    fn decimals_compare_exactly() {
        let th = t(dec!(12.345), dec!(12.3), Some(dec!(12)));
        assert_eq!(assess(dec!(12.34), UP, &th), ORANGE);
        assert_eq!(assess(dec!(12.345), UP, &th), GREEN);
        assert_eq!(assess(dec!(12.3450), UP, &th), GREEN);
        assert_eq!(assess(dec!(12.3449999), UP, &th), ORANGE);

        let th = t(dec!(12.34), dec!(12.5), None);
        assert_eq!(assess(dec!(12.345), DOWN, &th), ORANGE);
        assert_eq!(assess(dec!(12.340), DOWN, &th), GREEN);
    }

    #[test]
    fn critical_needs_red_status_even_with_misordered_red() {
        // Unvalidated thresholds with red above orange for UP: a value at or
        // below red but still ORANGE is not critical.
        let th = t(dec!(90), dec!(80), Some(dec!(85)));
        assert_eq!(assess(dec!(82), UP, &th), ORANGE);
        assert_eq!(assess(dec!(79), UP, &th), a(Status::Red, true));
    }

    #[test]
    fn meets_is_inclusive_in_both_directions() {
        assert!(meets(UP, dec!(1), dec!(1)));
        assert!(!meets(UP, dec!(0.99), dec!(1)));
        assert!(meets(DOWN, dec!(1), dec!(1)));
        assert!(!meets(DOWN, dec!(1.01), dec!(1)));
    }

    #[test]
    fn normalized_delta_positive_means_better() {
        assert_eq!(normalized_delta(UP, dec!(95), dec!(90)), dec!(5));
        assert_eq!(normalized_delta(UP, dec!(85), dec!(90)), dec!(-5));
        assert_eq!(normalized_delta(DOWN, dec!(3.5), dec!(4)), dec!(0.5));
        assert_eq!(normalized_delta(DOWN, dec!(4), dec!(3.5)), dec!(-0.5));
        assert_eq!(normalized_delta(DOWN, dec!(-1), dec!(-1)), dec!(0));
        // Saturates instead of overflowing.
        assert_eq!(
            normalized_delta(UP, Decimal::MAX, Decimal::MIN),
            Decimal::MAX
        );
        assert_eq!(
            normalized_delta(DOWN, Decimal::MAX, Decimal::MIN),
            Decimal::MIN
        );
    }

    #[test]
    fn trend_rank_is_the_improvement_relative_to_the_previous_value() {
        assert_eq!(trend_rank(UP, dec!(12), dec!(10)), dec!(0.2));
        assert_eq!(trend_rank(UP, dec!(110), dec!(100)), dec!(0.1));
        assert_eq!(trend_rank(DOWN, dec!(3), dec!(4)), dec!(0.25));
        assert_eq!(trend_rank(UP, dec!(-3), dec!(-4)), dec!(0.25));
        assert_eq!(trend_rank(UP, dec!(5), dec!(0)), dec!(5));
        assert_eq!(trend_rank(DOWN, dec!(5), dec!(0)), dec!(-5));
    }

    #[test]
    fn distance_from_green_relative_to_green() {
        let th = t(dec!(200), dec!(100), None);
        assert_eq!(distance_from_green(UP, dec!(250), &th), dec!(0));
        assert_eq!(distance_from_green(UP, dec!(200), &th), dec!(0));
        assert_eq!(distance_from_green(UP, dec!(150), &th), dec!(0.25));
        assert_eq!(distance_from_green(UP, dec!(0), &th), dec!(1));

        let th = t(dec!(-4), dec!(-2), None);
        // DOWN with a negative green: 1 above -4 is 25 % of |green|.
        assert_eq!(distance_from_green(DOWN, dec!(-3), &th), dec!(0.25));
        assert_eq!(distance_from_green(DOWN, dec!(-5), &th), dec!(0));

        let th = t(dec!(0), dec!(3), None);
        assert_eq!(distance_from_green(DOWN, dec!(2.5), &th), dec!(2.5));
        assert_eq!(distance_from_green(DOWN, dec!(0), &th), dec!(0));
        assert_eq!(distance_from_green(UP, dec!(-1.5), &th), dec!(1.5));
    }

    #[test]
    fn distance_from_green_saturates() {
        let th = t(dec!(0.0000000000000000000000000001), dec!(0), None);
        assert_eq!(distance_from_green(UP, Decimal::MIN, &th), Decimal::MAX);
    }

    fn decimal() -> impl Strategy<Value = Decimal> {
        (-1_000_000_000i64..1_000_000_000, 0u32..=4).prop_map(|(m, s)| Decimal::new(m, s))
    }

    fn direction() -> impl Strategy<Value = Direction> {
        prop_oneof![Just(UP), Just(DOWN)]
    }

    /// Thresholds that pass `validate` for the direction.
    fn valid_thresholds(direction: Direction) -> impl Strategy<Value = Thresholds> {
        (decimal(), decimal(), decimal(), any::<bool>()).prop_map(move |(x, y, z, with_red)| {
            let mut v = [x, y, z];
            v.sort();
            let [low, mid, high] = v;
            let th = match direction {
                Direction::UpIsBetter => t(high, mid, Some(low)),
                Direction::DownIsBetter => t(low, mid, Some(high)),
            };
            Thresholds {
                red: th.red.filter(|_| with_red),
                ..th
            }
        })
    }

    fn case() -> impl Strategy<Value = (Direction, Thresholds)> {
        direction().prop_flat_map(|d| (Just(d), valid_thresholds(d)))
    }

    proptest! {
        #[test]
        fn generated_thresholds_are_valid((d, th) in case()) {
            prop_assert_eq!(th.validate(d), Ok(()));
        }

        #[test]
        fn better_value_never_gets_worse_status((d, th) in case(), x in decimal(), y in decimal()) {
            let (low, high) = if x <= y { (x, y) } else { (y, x) };
            let (better, worse) = match d {
                Direction::UpIsBetter => (high, low),
                Direction::DownIsBetter => (low, high),
            };
            let b = assess(better, d, &th);
            let w = assess(worse, d, &th);
            prop_assert!(b.status <= w.status, "{better} got {:?}, {worse} got {:?}", b, w);
            prop_assert!(!b.critical || w.critical);
        }

        #[test]
        fn critical_implies_red_and_red_level_met((d, th) in case(), v in decimal()) {
            let got = assess(v, d, &th);
            if got.critical {
                prop_assert_eq!(got.status, Status::Red);
                let red = th.red.expect("critical needs a red threshold");
                prop_assert!(meets(d.opposite(), v, red));
            }
            if got.status == Status::Red && th.red.is_some_and(|red| meets(d.opposite(), v, red)) {
                prop_assert!(got.critical);
            }
        }

        #[test]
        fn status_matches_the_thresholds_it_meets((d, th) in case(), v in decimal()) {
            let got = assess(v, d, &th).status;
            prop_assert_eq!(got == Status::Green, meets(d, v, th.green));
            prop_assert_eq!(got <= Status::Orange, meets(d, v, th.orange));
        }

        #[test]
        fn distance_is_zero_exactly_when_green((d, th) in case(), v in decimal()) {
            let dist = distance_from_green(d, v, &th);
            prop_assert!(dist >= Decimal::ZERO);
            prop_assert_eq!(dist.is_zero(), assess(v, d, &th).status == Status::Green);
        }

        #[test]
        fn positive_delta_never_worsens_status((d, th) in case(), cur in decimal(), prev in decimal()) {
            if normalized_delta(d, cur, prev) > Decimal::ZERO {
                prop_assert!(assess(cur, d, &th).status <= assess(prev, d, &th).status);
            }
            prop_assert_eq!(normalized_delta(d, cur, prev), -normalized_delta(d, prev, cur));
        }
    }

    trait Opposite {
        fn opposite(self) -> Self;
    }

    impl Opposite for Direction {
        fn opposite(self) -> Self {
            match self {
                Direction::UpIsBetter => Direction::DownIsBetter,
                Direction::DownIsBetter => Direction::UpIsBetter,
            }
        }
    }
}

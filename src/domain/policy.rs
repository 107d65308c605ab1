//! The decision logic: from the recorded decisions to a release's status.
//! Pure, so that every rule is unit-tested without a database.

use chrono::NaiveDateTime;
use std::fmt;
use std::str::FromStr;

/// Stored as text through `db::types`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    utoipa::ToSchema,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseStatus {
    Pending,
    Approved,
    Rejected,
    Expired,
    Failed,
}

impl ReleaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Failed => "failed",
        }
    }

    /// A decided release never changes again.
    pub fn is_decided(self) -> bool {
        self != Self::Pending
    }
}

impl fmt::Display for ReleaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReleaseStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "rejected" => Self::Rejected,
            "expired" => Self::Expired,
            "failed" => Self::Failed,
            other => return Err(format!("unknown release status {other:?}")),
        })
    }
}

/// One approver's decision; stored as text through `db::types`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "lowercase")]
#[schema(description = "An approver's decision")]
pub enum Decision {
    #[serde(alias = "approve")]
    Approved,
    #[serde(alias = "reject")]
    Rejected,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }
}

impl FromStr for Decision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "approved" | "approve" => Ok(Self::Approved),
            "rejected" | "reject" => Ok(Self::Rejected),
            other => Err(format!("unknown decision {other:?}")),
        }
    }
}

/// The decisions recorded for one release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    /// How many approvals the policy asks for; `None` until the approvers
    /// are known.
    pub required: Option<u32>,
    pub approvals: u32,
    pub rejections: u32,
}

impl Tally {
    pub fn from_decisions(
        required: Option<u32>,
        decisions: impl IntoIterator<Item = Option<Decision>>,
    ) -> Self {
        let mut tally = Self {
            required,
            ..Self::default()
        };
        for d in decisions.into_iter().flatten() {
            match d {
                Decision::Approved => tally.approvals += 1,
                Decision::Rejected => tally.rejections += 1,
            }
        }
        tally
    }
}

/// The status a release should have now. A decided release keeps its
/// status; one rejection rejects; enough approvals approve; past the
/// deadline with neither, the release expires.
pub fn decide(
    current: ReleaseStatus,
    tally: &Tally,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> ReleaseStatus {
    if current.is_decided() {
        return current;
    }
    if tally.rejections > 0 {
        return ReleaseStatus::Rejected;
    }
    if matches!(tally.required, Some(required) if required > 0 && tally.approvals >= required) {
        return ReleaseStatus::Approved;
    }
    if now >= expires_at {
        return ReleaseStatus::Expired;
    }
    ReleaseStatus::Pending
}

/// The rule a release is decided by, resolved when it is created and stored
/// with it, so that a change of configuration never re-decides a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Approvals needed: `None` is every approver, `Some(n)` a quorum.
    pub quorum: Option<u32>,
    /// Whether the person who asked for the release may approve it.
    pub requester_can_approve: bool,
    /// How long approvers have to decide.
    pub release_ttl: chrono::Duration,
    /// When undecided approvers get one reminder, after the release was
    /// created; `None`: never.
    pub reminder_after: Option<chrono::Duration>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            quorum: None,
            requester_can_approve: false,
            release_ttl: chrono::Duration::hours(72),
            reminder_after: None,
        }
    }
}

/// How many approvals a release needs once its approvers are known, or
/// why it cannot be decided at all (it then fails with that reason, rather
/// than wait for approvals that cannot come).
pub fn required_approvals(
    quorum: Option<u32>,
    approvers: usize,
    excluded_requester: bool,
) -> Result<u32, String> {
    let count = u32::try_from(approvers).unwrap_or(u32::MAX);
    let after = if excluded_requester {
        " once the requester was excluded (they may not approve their own release)"
    } else {
        ""
    };
    match quorum {
        _ if count == 0 => Err(format!("no approver is left{after}")),
        Some(n) if n > count => Err(format!(
            "the policy needs {n} approvals but there {} only {count} approver{}{after}",
            if count == 1 { "is" } else { "are" },
            if count == 1 { "" } else { "s" },
        )),
        Some(n) => Ok(n),
        None => Ok(count),
    }
}

/// A duration as people write it in configuration: `30m`, `72h`, `7d`
/// (also `90s`); a positive whole number and one unit.
pub fn parse_duration(text: &str) -> Result<chrono::Duration, String> {
    let text = text.trim();
    // The unit is the last character, whatever its width in bytes.
    let split = text.char_indices().last().map_or(0, |(i, _)| i);
    let (number, unit) = text.split_at(split);
    let n: i64 = number
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{text:?} is not a duration like 30m, 72h or 7d"))?;
    let seconds = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    }
    .filter(|s| *s <= 366 * 86_400)
    .ok_or_else(|| format!("{text:?} is not a duration like 30m, 72h or 7d (at most a year)"))?;
    Ok(chrono::Duration::seconds(seconds))
}

/// A duration in the largest unit that writes it whole (`72h`, `7d`,
/// `90s`): what `parse_duration` reads back.
pub fn format_duration(d: chrono::Duration) -> String {
    let s = d.num_seconds();
    match s {
        s if s > 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, NaiveDate};

    #[test]
    fn durations_format_as_they_parse() {
        for text in ["30m", "3d", "7d", "90s", "25h"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }

    fn t0() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 23)
            .unwrap()
            .and_hms_opt(10, 0, 0)
            .unwrap()
    }

    fn tally(required: Option<u32>, approvals: u32, rejections: u32) -> Tally {
        Tally {
            required,
            approvals,
            rejections,
        }
    }

    fn at(tally: Tally, minutes: i64) -> ReleaseStatus {
        decide(
            ReleaseStatus::Pending,
            &tally,
            t0() + Duration::minutes(minutes),
            t0() + Duration::minutes(60),
        )
    }

    #[test]
    fn pending_until_every_approver_approves() {
        assert_eq!(at(tally(Some(2), 0, 0), 1), ReleaseStatus::Pending);
        assert_eq!(at(tally(Some(2), 1, 0), 1), ReleaseStatus::Pending);
        assert_eq!(at(tally(Some(2), 2, 0), 1), ReleaseStatus::Approved);
    }

    #[test]
    fn one_rejection_rejects_even_with_enough_approvals() {
        assert_eq!(at(tally(Some(2), 2, 1), 1), ReleaseStatus::Rejected);
        assert_eq!(at(tally(Some(3), 0, 1), 1), ReleaseStatus::Rejected);
    }

    #[test]
    fn unknown_approvers_never_approve() {
        assert_eq!(at(tally(None, 0, 0), 1), ReleaseStatus::Pending);
        assert_eq!(at(tally(Some(0), 0, 0), 1), ReleaseStatus::Pending);
    }

    #[test]
    fn expires_at_the_deadline_without_a_decision() {
        assert_eq!(at(tally(Some(2), 1, 0), 59), ReleaseStatus::Pending);
        assert_eq!(at(tally(Some(2), 1, 0), 60), ReleaseStatus::Expired);
        assert_eq!(at(tally(None, 0, 0), 61), ReleaseStatus::Expired);
    }

    #[test]
    fn a_decision_in_time_wins_over_the_deadline() {
        assert_eq!(at(tally(Some(1), 1, 0), 61), ReleaseStatus::Approved);
    }

    #[test]
    fn decided_releases_never_change() {
        for status in [
            ReleaseStatus::Approved,
            ReleaseStatus::Rejected,
            ReleaseStatus::Expired,
            ReleaseStatus::Failed,
        ] {
            let next = decide(status, &tally(Some(1), 0, 5), t0(), t0());
            assert_eq!(next, status);
        }
    }

    #[test]
    fn tally_counts_recorded_decisions() {
        let t = Tally::from_decisions(
            Some(3),
            [
                Some(Decision::Approved),
                None,
                Some(Decision::Rejected),
                Some(Decision::Approved),
            ],
        );
        assert_eq!(t, tally(Some(3), 2, 1));
    }

    #[test]
    fn statuses_round_trip_through_text() {
        for s in ["pending", "approved", "rejected", "expired", "failed"] {
            assert_eq!(s.parse::<ReleaseStatus>().unwrap().as_str(), s);
        }
        assert!("done".parse::<ReleaseStatus>().is_err());
    }

    #[test]
    fn a_quorum_needs_enough_approvers() {
        assert_eq!(required_approvals(None, 3, false), Ok(3));
        assert_eq!(required_approvals(Some(2), 3, false), Ok(2));
        assert_eq!(required_approvals(Some(3), 3, false), Ok(3));
        let err = required_approvals(Some(3), 2, false).unwrap_err();
        assert!(
            err.contains("needs 3 approvals") && err.contains("only 2 approvers"),
            "{err}"
        );
        let err = required_approvals(Some(2), 1, true).unwrap_err();
        assert!(
            err.contains("only 1 approver once the requester was excluded"),
            "{err}"
        );
        assert!(required_approvals(None, 0, true)
            .unwrap_err()
            .contains("no approver is left once the requester"));
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("30m"), Ok(chrono::Duration::minutes(30)));
        assert_eq!(parse_duration("72h"), Ok(chrono::Duration::hours(72)));
        assert_eq!(parse_duration(" 7d "), Ok(chrono::Duration::days(7)));
        assert_eq!(parse_duration("90s"), Ok(chrono::Duration::seconds(90)));
        for bad in [
            "",
            "h",
            "0h",
            "-1h",
            "3",
            "3w",
            "1.5h",
            "400d",
            "99999999999999999d",
            "7é",
            "€",
            "3日",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}

/// How an approval link acts when opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalMode {
    /// Opening the link approves.
    OneClick,
    /// Opening the link shows Approve and Reject buttons.
    Confirm,
}

pub fn parse_approval_mode(text: &str) -> Option<ApprovalMode> {
    match text {
        "one-click" => Some(ApprovalMode::OneClick),
        "confirm" => Some(ApprovalMode::Confirm),
        _ => None,
    }
}

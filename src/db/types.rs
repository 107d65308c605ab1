//! The domain's enums as stored: text columns, written from and read into
//! the enum itself through diesel's `ToSql`/`FromSql`. A value that no
//! variant writes (a hand edit, a newer schema) fails the query: it never
//! reads as some default.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

use crate::domain::{Decision, DeploymentState, ReleaseStatus, SubscriberKind};

/// `ToSql`/`FromSql` on every backend (and so on the multi-backend
/// connection) for an enum with `as_str`, its variants listed.
macro_rules! stored_as_text {
    ($ty:ty, $what:literal, [$($variant:expr),+ $(,)?]) => {
        impl<DB> FromSql<Text, DB> for $ty
        where
            DB: Backend,
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let text = String::from_sql(bytes)?;
                [$($variant),+]
                    .into_iter()
                    .find(|v| v.as_str() == text)
                    .ok_or_else(|| format!("unknown {} {text:?} in the database", $what).into())
            }
        }

        impl<DB> ToSql<Text, DB> for $ty
        where
            DB: Backend,
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                <str as ToSql<Text, DB>>::to_sql(self.as_str(), out)
            }
        }
    };
}

stored_as_text!(
    ReleaseStatus,
    "release status",
    [
        ReleaseStatus::Pending,
        ReleaseStatus::Approved,
        ReleaseStatus::Rejected,
        ReleaseStatus::Expired,
        ReleaseStatus::Failed,
    ]
);
stored_as_text!(
    Decision,
    "decision",
    [Decision::Approved, Decision::Rejected]
);
stored_as_text!(
    SubscriberKind,
    "subscriber kind",
    [
        SubscriberKind::Webhook,
        SubscriberKind::AzureDevops,
        SubscriberKind::Github,
    ]
);
stored_as_text!(
    DeploymentState,
    "deployment state",
    [
        DeploymentState::Waiting,
        DeploymentState::Queued,
        DeploymentState::InProgress,
        DeploymentState::Success,
        DeploymentState::Failure,
        DeploymentState::Error,
        DeploymentState::Canceled,
        DeploymentState::Inactive,
    ]
);

#[cfg(test)]
mod tests {
    use diesel::dsl::sql;
    use diesel::sqlite::SqliteConnection;
    use diesel::{Connection, RunQueryDsl};

    use super::*;

    fn read<T>(text: &str) -> diesel::QueryResult<T>
    where
        T: FromSql<Text, diesel::sqlite::Sqlite> + 'static,
        T: diesel::deserialize::FromSqlRow<Text, diesel::sqlite::Sqlite>,
    {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        diesel::select(sql::<Text>(&format!("'{text}'"))).get_result(&mut conn)
    }

    #[test]
    fn every_variant_reads_back_and_an_unknown_text_is_an_error() {
        for status in ["pending", "approved", "rejected", "expired", "failed"] {
            assert_eq!(read::<ReleaseStatus>(status).unwrap().as_str(), status);
        }
        for decision in ["approved", "rejected"] {
            assert_eq!(read::<Decision>(decision).unwrap().as_str(), decision);
        }
        for kind in ["webhook", "azure_devops", "github"] {
            assert_eq!(read::<SubscriberKind>(kind).unwrap().as_str(), kind);
        }
        // What no variant writes, including a decision's request form.
        assert!(read::<ReleaseStatus>("on_hold").is_err());
        assert!(read::<Decision>("approve").is_err());
        assert!(read::<SubscriberKind>("slack").is_err());
        for state in DeploymentState::ALL {
            assert_eq!(read::<DeploymentState>(state.as_str()).unwrap(), state);
        }
        assert!(read::<DeploymentState>("pending").is_err());
    }
}

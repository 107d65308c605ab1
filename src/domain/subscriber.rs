//! Who is told of a release's decision, by kind.

/// A subscriber's kind, as stored beside it (text, through `db::types`):
/// each kind is told by its own job.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum SubscriberKind {
    Webhook,
    AzureDevops,
    Github,
}

impl SubscriberKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::AzureDevops => "azure_devops",
            Self::Github => "github",
        }
    }
}

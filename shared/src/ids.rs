//! Typed ids: a KPI id cannot be passed where a dashboard id is expected.
//! Each is a UUID (v7, time-ordered, when the application makes it), stored
//! as `uuid` and sent as its string.

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident;)+) => {$(
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, sqlx::Type,
        )]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A new id, time-ordered like the rows' own.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            pub const fn from_uuid(id: uuid::Uuid) -> Self {
                Self(id)
            }

            pub const fn uuid(self) -> uuid::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(id: uuid::Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for uuid::Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                text.parse().map(Self)
            }
        }
    )+};
}

ids! {
    /// An organization: the tenant every other row belongs to.
    OrganizationId;
    /// A person who signs in.
    UserId;
    TeamId;
    DashboardId;
    KpiId;
    /// One value of a KPI for one period.
    ValueId;
    /// An action plan opened on a KPI.
    ActionId;
    /// A comment on a KPI or an action plan.
    CommentId;
    ImportJobId;
    /// A login session: the family of refresh tokens its login began.
    SessionId;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_id_reads_and_writes_as_its_uuid() {
        let id = KpiId::new();
        let text = id.to_string();
        assert_eq!(text.parse::<KpiId>().unwrap(), id);
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{text}\""));
        assert_eq!(
            serde_json::from_str::<KpiId>(&format!("\"{text}\"")).unwrap(),
            id
        );
        assert!("not-a-uuid".parse::<KpiId>().is_err());
    }

    #[test]
    fn new_ids_are_time_ordered() {
        let first = ValueId::new();
        let second = ValueId::new();
        assert!(first < second);
    }
}

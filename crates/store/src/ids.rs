//! Typed ids, so a user id cannot be passed where an enrollment id belongs.
//! In the database they are hyphenated lowercase UUID text.

use std::fmt;

use serde::Serialize;
use uuid::Uuid;

use crate::error::StoreError;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// Parses a value read back from the database.
            // Not every id type is stored.
            #[allow(dead_code)]
            pub(crate) fn from_column(
                column: &'static str,
                text: &str,
            ) -> Result<Self, StoreError> {
                Uuid::parse_str(text)
                    .map(Self)
                    .map_err(|_| StoreError::corrupt(column, "not a UUID"))
            }

            #[allow(dead_code)]
            pub(crate) fn to_column(self) -> String {
                self.0.hyphenated().to_string()
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }
    };
}

id_type!(
    /// A member of staff.
    UserId
);
id_type!(
    /// One enrollment, from start to purge.
    EnrollmentId
);
id_type!(
    /// A sealed packet; the same UUID as in the packet's header.
    PacketId
);
id_type!(
    /// One login, for correlating audit entries.
    SessionId
);

/// A new random (v4) UUID for rows the store creates.
pub(crate) fn new_uuid() -> Uuid {
    Uuid::new_v4()
}

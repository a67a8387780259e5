//! One classification of batch failures for every consumer group: what is
//! permanent for a record (dead-letter it) and what is a bad moment (retry
//! the batch, never skip it).

use std::fmt;

/// Why a record was dead-lettered. Carried in the `dlq_error_class` header
/// and the dead letter's `error_class` field, so operators can filter and
/// redrive by class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The record could not be decoded (not a valid envelope).
    Decode,
    /// SQLSTATE class 22: a value Postgres refuses (bad encoding, range).
    Data,
    /// SQLSTATE class 23: an integrity constraint (unique, check, foreign key).
    Constraint,
    /// SQLSTATE class 42: the statement does not fit the schema.
    Schema,
    /// The handler panicked on the record.
    Panic,
    /// The handler declared the record unprocessable for its own reasons.
    Poison,
}

impl ErrorClass {
    pub const ALL: [Self; 6] = [Self::Decode, Self::Data, Self::Constraint, Self::Schema, Self::Panic, Self::Poison];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Decode => "decode",
            Self::Data => "data",
            Self::Constraint => "constraint",
            Self::Schema => "schema",
            Self::Panic => "panic",
            Self::Poison => "poison",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|class| class.as_str() == value)
    }

    /// The permanent class of a Postgres error, or `None` when it is
    /// transient (connection loss, serialization failure 40001, deadlock
    /// 40P01, insufficient resources 53, operator intervention 57, and
    /// anything else not known to be about the record).
    pub fn of_postgres(error: &tokio_postgres::Error) -> Option<Self> {
        Self::of_sqlstate(error.code()?)
    }

    /// The permanent class of a SQLSTATE, by its class (first two characters).
    pub fn of_sqlstate(state: &tokio_postgres::error::SqlState) -> Option<Self> {
        match state.code().get(..2)? {
            "22" => Some(Self::Data),
            "23" => Some(Self::Constraint),
            "42" => Some(Self::Schema),
            _ => None,
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_parses_back_from_its_name() {
        for class in ErrorClass::ALL {
            assert_eq!(ErrorClass::parse(class.as_str()), Some(class));
        }
        assert_eq!(ErrorClass::parse("transient"), None);
    }

    #[test]
    fn data_integrity_and_schema_errors_are_permanent_and_everything_else_is_retried() {
        use tokio_postgres::error::SqlState;
        let permanent = [
            (SqlState::INVALID_TEXT_REPRESENTATION, ErrorClass::Data),
            (SqlState::NUMERIC_VALUE_OUT_OF_RANGE, ErrorClass::Data),
            (SqlState::CHARACTER_NOT_IN_REPERTOIRE, ErrorClass::Data),
            (SqlState::UNIQUE_VIOLATION, ErrorClass::Constraint),
            (SqlState::FOREIGN_KEY_VIOLATION, ErrorClass::Constraint),
            (SqlState::CHECK_VIOLATION, ErrorClass::Constraint),
            (SqlState::UNDEFINED_TABLE, ErrorClass::Schema),
            (SqlState::UNDEFINED_COLUMN, ErrorClass::Schema),
            (SqlState::INSUFFICIENT_PRIVILEGE, ErrorClass::Schema),
        ];
        for (state, class) in permanent {
            assert_eq!(ErrorClass::of_sqlstate(&state), Some(class), "{}", state.code());
        }
        let transient = [
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::DISK_FULL,
            SqlState::OUT_OF_MEMORY,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::QUERY_CANCELED,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::CONNECTION_FAILURE,
            SqlState::LOCK_NOT_AVAILABLE,
            SqlState::INTERNAL_ERROR,
        ];
        for state in transient {
            assert_eq!(ErrorClass::of_sqlstate(&state), None, "{} is retried", state.code());
        }
    }
}

//! The invitation life cycle as a pure function, so every allowed and every
//! forbidden transition is decided (and unit-tested) in one place:
//!
//! ```text
//!             accept ──▶ accepted
//!            ╱
//! pending ──┼── decline ─▶ declined
//!            ╲
//!             ├─ revoke ──▶ revoked
//!             └─ (expires_at passed) ──▶ expired
//! ```
//!
//! Closed states are final. Time wins over intent: acting on a pending
//! invitation after `expires_at` closes it as expired instead, so a late
//! accept can never succeed.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InvitationState {
    Pending,
    Accepted,
    Declined,
    Expired,
    Revoked,
}

impl InvitationState {
    pub const ALL: [InvitationState; 5] = [Self::Pending, Self::Accepted, Self::Declined, Self::Expired, Self::Revoked];

    /// The name stored in `invitations.state`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }

    pub fn is_closed(self) -> bool {
        self != Self::Pending
    }
}

impl fmt::Display for InvitationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InvitationState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|state| state.as_str() == s).ok_or_else(|| format!("{s:?} is not an invitation state"))
    }
}

/// What someone (or the clock) tries to do with an invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Accept,
    Decline,
    Revoke,
    Expire,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// Already closed; nothing may change (409).
    #[error("the invitation is already {0}")]
    Closed(InvitationState),
    /// Still pending but past `expires_at`: the caller records `Expired`
    /// instead of the requested action (410).
    #[error("the invitation has expired")]
    Expired,
    /// `Expire` on an invitation whose time has not come.
    #[error("the invitation has not expired yet")]
    NotYetExpired,
}

/// Whether an invitation is past its expiry at `now` (the instant itself
/// counts as expired, so a zero-length validity never admits anyone).
pub fn is_past(now: DateTime<Utc>, expires_at: DateTime<Utc>) -> bool {
    now >= expires_at
}

/// The state to record when `action` happens to an invitation in `state`.
pub fn transition(
    state: InvitationState,
    action: Action,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<InvitationState, TransitionError> {
    if state.is_closed() {
        return Err(TransitionError::Closed(state));
    }
    match (action, is_past(now, expires_at)) {
        (Action::Expire, true) => Ok(InvitationState::Expired),
        (Action::Expire, false) => Err(TransitionError::NotYetExpired),
        (_, true) => Err(TransitionError::Expired),
        (Action::Accept, false) => Ok(InvitationState::Accepted),
        (Action::Decline, false) => Ok(InvitationState::Declined),
        (Action::Revoke, false) => Ok(InvitationState::Revoked),
    }
}

/// The state to show a reader: a pending invitation past its expiry is
/// reported as expired even before anything has recorded that.
pub fn effective_state(state: InvitationState, now: DateTime<Utc>, expires_at: DateTime<Utc>) -> InvitationState {
    if state == InvitationState::Pending && is_past(now, expires_at) { InvitationState::Expired } else { state }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use InvitationState::{Accepted, Declined, Expired, Pending, Revoked};

    const ACTIONS: [Action; 4] = [Action::Accept, Action::Decline, Action::Revoke, Action::Expire];

    fn times() -> (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>) {
        let expires_at = Utc::now();
        (expires_at - Duration::seconds(1), expires_at, expires_at + Duration::seconds(1))
    }

    #[test]
    fn a_pending_invitation_before_expiry_can_be_accepted_declined_or_revoked() {
        let (before, expires_at, _) = times();
        assert_eq!(transition(Pending, Action::Accept, before, expires_at), Ok(Accepted));
        assert_eq!(transition(Pending, Action::Decline, before, expires_at), Ok(Declined));
        assert_eq!(transition(Pending, Action::Revoke, before, expires_at), Ok(Revoked));
    }

    #[test]
    fn a_pending_invitation_expires_only_once_its_time_has_come() {
        let (before, expires_at, after) = times();
        assert_eq!(transition(Pending, Action::Expire, after, expires_at), Ok(Expired));
        assert_eq!(transition(Pending, Action::Expire, expires_at, expires_at), Ok(Expired), "the expiry instant counts");
        assert_eq!(transition(Pending, Action::Expire, before, expires_at), Err(TransitionError::NotYetExpired));
    }

    #[test]
    fn acting_on_a_pending_invitation_past_expiry_expires_it_instead() {
        let (_, expires_at, after) = times();
        for action in [Action::Accept, Action::Decline, Action::Revoke] {
            assert_eq!(transition(Pending, action, after, expires_at), Err(TransitionError::Expired), "{action:?}");
            assert_eq!(transition(Pending, action, expires_at, expires_at), Err(TransitionError::Expired), "{action:?} at the instant");
        }
    }

    #[test]
    fn nothing_leaves_a_closed_state() {
        let (before, expires_at, after) = times();
        for state in [Accepted, Declined, Expired, Revoked] {
            for action in ACTIONS {
                for now in [before, after] {
                    assert_eq!(transition(state, action, now, expires_at), Err(TransitionError::Closed(state)), "{state} {action:?}");
                }
            }
        }
    }

    #[test]
    fn the_named_forbidden_transitions_are_refused() {
        let (before, expires_at, _) = times();
        // Accept twice, accept a revoked one, decline after accept, revoke an accepted one.
        assert_eq!(transition(Accepted, Action::Accept, before, expires_at), Err(TransitionError::Closed(Accepted)));
        assert_eq!(transition(Revoked, Action::Accept, before, expires_at), Err(TransitionError::Closed(Revoked)));
        assert_eq!(transition(Accepted, Action::Decline, before, expires_at), Err(TransitionError::Closed(Accepted)));
        assert_eq!(transition(Accepted, Action::Revoke, before, expires_at), Err(TransitionError::Closed(Accepted)));
    }

    #[test]
    fn readers_see_overdue_pending_invitations_as_expired() {
        let (before, expires_at, after) = times();
        assert_eq!(effective_state(Pending, before, expires_at), Pending);
        assert_eq!(effective_state(Pending, after, expires_at), Expired);
        for state in [Accepted, Declined, Expired, Revoked] {
            assert_eq!(effective_state(state, after, expires_at), state, "closed states are shown as recorded");
        }
    }

    #[test]
    fn states_parse_from_their_stored_names_only() {
        for state in InvitationState::ALL {
            assert_eq!(state.as_str().parse::<InvitationState>(), Ok(state));
        }
        assert!("Pending".parse::<InvitationState>().is_err());
        assert!("open".parse::<InvitationState>().is_err());
    }
}

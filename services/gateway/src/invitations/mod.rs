//! Invitations: an owner or admin invites an email address with a role; the
//! holder of the invitation's token accepts (joining the tenant, with a new
//! account if needed) or declines it. The life cycle is a state machine
//! (`state_machine`) — pending → accepted | declined | expired | revoked —
//! and every transition happens in one transaction together with its audit
//! entry and its staged `signalops.invitation.<state>` system event.

pub mod redeem;
pub mod routes;
pub mod state_machine;
pub mod store;
pub mod token;

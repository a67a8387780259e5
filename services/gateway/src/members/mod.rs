//! People in a tenant and their roles. The permission matrix (`roles`)
//! decides who may list and manage members; `owner_rules` adds the rules
//! that depend on the target (owners are made and unmade by owners, and the
//! last owner stays), checked against owner rows locked in the change's
//! transaction.

pub mod owner_rules;
pub mod routes;
pub mod store;

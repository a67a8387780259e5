//! The rules about owners that the permission matrix cannot express because
//! they depend on the target: only an owner may make, unmake or remove an
//! owner, and a tenant never loses its last owner. Pure functions over the
//! roles involved and the owner count; the handlers supply that count from
//! owner rows locked in the same transaction, so it cannot go stale before
//! the change commits.

use crate::problem::ApiError;
use crate::roles::{Permission, Role, allows};

const LAST_OWNER_DEMOTE: &str = "this is the tenant's last owner and cannot be demoted; make someone else an owner first";
const LAST_OWNER_REMOVE: &str = "this is the tenant's last owner and cannot be removed; make someone else an owner first";

/// May `caller` change a member's role from `current` to `new`, with
/// `owners` owners in the tenant? (`members:manage` is checked before.)
pub fn check_role_change(caller: Role, current: Role, new: Role, owners: usize) -> Result<(), ApiError> {
    if (new == Role::Owner || current == Role::Owner) && caller != Role::Owner {
        return Err(ApiError::Forbidden("only an owner may grant the owner role or change an owner's role".to_owned()));
    }
    if current == Role::Owner && new != Role::Owner && owners <= 1 {
        return Err(ApiError::Conflict(LAST_OWNER_DEMOTE.to_owned()));
    }
    Ok(())
}

/// May `caller` remove a member whose role is `target` (`leaving` when they
/// remove themselves), with `owners` owners in the tenant?
pub fn check_removal(caller: Role, leaving: bool, target: Role, owners: usize) -> Result<(), ApiError> {
    // Anyone may leave; removing others takes members:manage.
    if !leaving && !allows(caller, Permission::ManageMembers) {
        return Err(ApiError::Forbidden(format!("your role ({caller}) lacks {}", Permission::ManageMembers.as_str())));
    }
    if !leaving && target == Role::Owner && caller != Role::Owner {
        return Err(ApiError::Forbidden("only an owner may remove an owner".to_owned()));
    }
    if target == Role::Owner && owners <= 1 {
        return Err(ApiError::Conflict(LAST_OWNER_REMOVE.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::{Admin, Member, Owner, Viewer};

    fn forbidden<T: std::fmt::Debug>(result: Result<T, ApiError>) -> bool {
        matches!(result, Err(ApiError::Forbidden(_)))
    }

    fn conflict<T: std::fmt::Debug>(result: Result<T, ApiError>) -> bool {
        matches!(result, Err(ApiError::Conflict(_)))
    }

    #[test]
    fn only_owners_grant_or_change_the_owner_role() {
        assert!(forbidden(check_role_change(Admin, Member, Owner, 1)), "admin promotes to owner");
        assert!(forbidden(check_role_change(Admin, Owner, Admin, 2)), "admin demotes an owner");
        assert!(check_role_change(Owner, Member, Owner, 1).is_ok());
        assert!(check_role_change(Owner, Owner, Admin, 2).is_ok());
        assert!(check_role_change(Admin, Member, Viewer, 1).is_ok(), "admins manage non-owners");
        assert!(check_role_change(Admin, Viewer, Admin, 1).is_ok());
    }

    #[test]
    fn the_last_owner_cannot_be_demoted() {
        for new in [Admin, Member, Viewer] {
            assert!(conflict(check_role_change(Owner, Owner, new, 1)), "{new}");
        }
        assert!(check_role_change(Owner, Owner, Owner, 1).is_ok(), "staying owner is no demotion");
    }

    #[test]
    fn anyone_may_leave_except_the_last_owner() {
        for role in [Admin, Member, Viewer] {
            assert!(check_removal(role, true, role, 1).is_ok(), "{role} leaves");
        }
        assert!(check_removal(Owner, true, Owner, 2).is_ok(), "one of two owners leaves");
        assert!(conflict(check_removal(Owner, true, Owner, 1)), "the last owner cannot leave");
    }

    #[test]
    fn removing_others_takes_members_manage_and_owners_take_an_owner() {
        assert!(forbidden(check_removal(Member, false, Viewer, 1)));
        assert!(forbidden(check_removal(Viewer, false, Member, 1)));
        assert!(check_removal(Admin, false, Member, 1).is_ok());
        assert!(check_removal(Admin, false, Admin, 1).is_ok());
        assert!(forbidden(check_removal(Admin, false, Owner, 2)), "admin removes an owner");
        assert!(check_removal(Owner, false, Owner, 2).is_ok());
        assert!(conflict(check_removal(Owner, false, Owner, 1)), "the last owner cannot be removed");
    }
}

//! Roles and the permission matrix, enforced here and only here
//! (documented in docs/permissions.md; a test keeps the two in step).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::problem::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Member,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Member, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
            Self::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| format!("{s:?} is not a role (owner, admin, member, viewer)"))
    }
}

/// What a person may do in a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    ReadTenant,
    ReadMembers,
    ManageMembers,
    ReadInvitations,
    ManageInvitations,
    ReadApiKeys,
    ManageApiKeys,
    ReadAuditLog,
    ReadEvents,
    ManageEventSchemas,
    ReadRules,
    ManageRules,
    ReadChannels,
    ManageChannels,
}

impl Permission {
    pub const ALL: [Permission; 14] = [
        Permission::ReadTenant,
        Permission::ReadMembers,
        Permission::ManageMembers,
        Permission::ReadInvitations,
        Permission::ManageInvitations,
        Permission::ReadApiKeys,
        Permission::ManageApiKeys,
        Permission::ReadAuditLog,
        Permission::ReadEvents,
        Permission::ManageEventSchemas,
        Permission::ReadRules,
        Permission::ManageRules,
        Permission::ReadChannels,
        Permission::ManageChannels,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadTenant => "tenant:read",
            Self::ReadMembers => "members:read",
            Self::ManageMembers => "members:manage",
            Self::ReadInvitations => "invitations:read",
            Self::ManageInvitations => "invitations:manage",
            Self::ReadApiKeys => "api_keys:read",
            Self::ManageApiKeys => "api_keys:manage",
            Self::ReadAuditLog => "audit_log:read",
            Self::ReadEvents => "events:read",
            Self::ManageEventSchemas => "event_schemas:manage",
            Self::ReadRules => "rules:read",
            Self::ManageRules => "rules:manage",
            Self::ReadChannels => "channels:read",
            Self::ManageChannels => "channels:manage",
        }
    }
}

/// The matrix. Owner-only rules that depend on the target (granting or
/// removing the owner role, keeping one owner) live in the members module.
pub fn allows(role: Role, permission: Permission) -> bool {
    use Permission as P;
    match role {
        Role::Owner | Role::Admin => true,
        Role::Member => {
            matches!(permission, P::ReadTenant | P::ReadMembers | P::ReadApiKeys | P::ReadEvents | P::ReadRules | P::ReadChannels)
        }
        Role::Viewer => matches!(permission, P::ReadTenant | P::ReadMembers | P::ReadEvents | P::ReadRules | P::ReadChannels),
    }
}

/// The caller's current role in the transaction's tenant (RLS scopes the
/// query), or 401 when they are no longer a member: a removed member's token
/// stops working at once.
pub async fn current_role<C: GenericClient>(client: &C, user_id: Uuid) -> Result<Role, ApiError> {
    let row = client.query_opt("SELECT role FROM memberships WHERE user_id = $1", &[&user_id]).await?;
    let role: String = row.ok_or(ApiError::Unauthorized("you are no longer a member of this tenant"))?.try_get(0)?;
    role.parse().map_err(|e: String| ApiError::Internal(anyhow::anyhow!(e)))
}

/// `current_role` + the matrix: 403 when the role lacks the permission.
pub async fn authorize<C: GenericClient>(client: &C, user_id: Uuid, permission: Permission) -> Result<Role, ApiError> {
    let role = current_role(client, user_id).await?;
    if allows(role, permission) { Ok(role) } else { Err(ApiError::Forbidden(format!("your role ({role}) lacks {}", permission.as_str()))) }
}

/// The matrix as a Markdown table (docs/permissions.md embeds it).
pub fn matrix_markdown() -> String {
    let mut out = String::from("| permission | owner | admin | member | viewer |\n| --- | --- | --- | --- | --- |\n");
    for permission in Permission::ALL {
        let cells: Vec<&str> = Role::ALL.iter().map(|r| if allows(*r, permission) { "yes" } else { "—" }).collect();
        out.push_str(&format!("| `{}` | {} |\n", permission.as_str(), cells.join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_matrix_is_the_enforced_one() {
        let doc = include_str!("../../../docs/permissions.md");
        assert!(doc.contains(&matrix_markdown()), "docs/permissions.md is out of date; paste:\n{}", matrix_markdown());
    }

    #[test]
    fn roles_parse_from_their_names_only() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
        assert!("Owner".parse::<Role>().is_err());
    }
}

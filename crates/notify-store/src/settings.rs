//! `[channels]`: the keys that seal channel credentials, read by every
//! service that opens them (the gateway seals, the notifier opens).

use serde::Deserialize;
use signalops_platform::config::{FieldProblem, Secret, Validate};

use crate::sealing::Keyring;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelSettings {
    /// `id:base64-key[,id:base64-key…]`, 32-byte keys; the first seals, all open.
    pub secret_keys: Secret,
    /// How long a rotated webhook secret keeps signing beside the new one.
    pub rotation_overlap_hours: u32,
}

impl Default for ChannelSettings {
    fn default() -> Self {
        Self { secret_keys: Secret::default(), rotation_overlap_hours: 24 }
    }
}

impl ChannelSettings {
    /// The keyring; [`Validate`] has refused a list that does not parse.
    pub fn keyring(&self) -> Result<Keyring, crate::sealing::SealError> {
        Keyring::parse(self.secret_keys.expose())
    }
}

impl Validate for ChannelSettings {
    fn validate(&self) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        if let Err(error) = self.keyring() {
            problems.push(FieldProblem::new("secret_keys", format!("{error} (e.g. `k1:$(openssl rand -base64 32)`)")));
        }
        if !(1..=720).contains(&self.rotation_overlap_hours) {
            problems.push(FieldProblem::new("rotation_overlap_hours", "must be between 1 and 720"));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_required_and_checked_without_echoing_them() {
        let fields = |s: &ChannelSettings| s.validate().into_iter().map(|p| p.field).collect::<Vec<_>>();
        assert_eq!(fields(&ChannelSettings::default()), ["secret_keys"]);
        let bad = ChannelSettings { secret_keys: Secret::new("k1:c2hvcnQ="), rotation_overlap_hours: 0 };
        let problems = bad.validate();
        assert_eq!(problems.iter().map(|p| p.field.as_str()).collect::<Vec<_>>(), ["secret_keys", "rotation_overlap_hours"]);
        assert!(!problems[0].to_string().contains("c2hvcnQ"), "{}", problems[0]);
        let good =
            ChannelSettings { secret_keys: Secret::new("k1:c2lnbmFsb3BzLWRldi1ub3QtZm9yLXByb2R1Y3Rpb24="), ..ChannelSettings::default() };
        assert!(good.validate().is_empty());
        assert_eq!(good.keyring().expect("ring").current_id(), "k1");
    }
}

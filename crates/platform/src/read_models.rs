//! Names shared by the projector and `signalctl` for the versions of the
//! events read model (`read_models`, ADR 0011).

/// The consumer group that projects read-model `version`: version 1 keeps
/// the configured group, version N uses `<base>-vN`.
pub fn group_of(base: &str, version: i32) -> String {
    if version == 1 { base.to_owned() } else { format!("{base}-v{version}") }
}

#[cfg(test)]
mod tests {
    use super::group_of;

    #[test]
    fn version_one_keeps_the_configured_group() {
        assert_eq!(group_of("signalops-projector", 1), "signalops-projector");
        assert_eq!(group_of("signalops-projector", 3), "signalops-projector-v3");
    }
}

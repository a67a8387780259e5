//! Environment variables as *strings*. figment's `Env` guesses types
//! (`GROUP_ID=007` would become the number 7); this provider keeps the text
//! and `extract_lossy` converts it only where a field wants a number or bool.

use figment::providers::Env;
use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};

pub(crate) struct RawEnv(pub(crate) Env);

impl Provider for RawEnv {
    fn metadata(&self) -> Metadata {
        self.0.metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (key, value) in self.0.iter() {
            if let Some(nested) = figment::util::nest(key.as_str(), Value::from(value)).into_dict() {
                merge(&mut dict, nested);
            }
        }
        Ok(Profile::Default.collect(dict))
    }
}

fn merge(into: &mut Dict, from: Dict) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(Value::Dict(_, existing)), Value::Dict(_, incoming)) => merge(existing, incoming),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

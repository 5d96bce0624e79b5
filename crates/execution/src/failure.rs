//! Failure codes (DESIGN.md decision 9): what a receipt hashes when a
//! transaction fails is `(module, code, detail)`; the message people read is
//! rendered from a template here, outside consensus.
//!
//! Each module declares its codes once with [`failures!`]: a stable number,
//! a stable name (what clients branch on) and a message template whose
//! `{field}` placeholders are filled from the detail. Numbers are never
//! reused; a template may be reworded freely (the golden test
//! `rewording_leaves_receipts_root_unchanged` shows why that is safe).

use ingot_types::{limits::MAX_FAILURE_DETAILS, Failure};

/// One failure a module can report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code {
    pub module: &'static str,
    pub code: u16,
    /// Stable machine name, e.g. `already_registered`.
    pub name: &'static str,
    /// Message template; `{field}` is replaced by that detail field.
    pub template: &'static str,
}

impl Code {
    /// This failure with `detail` (chain data only: ids, names, numbers).
    pub fn with(self, detail: &[(&str, String)]) -> Failure {
        debug_assert!(detail.len() <= MAX_FAILURE_DETAILS);
        Failure {
            module: self.module.to_string(),
            code: self.code,
            detail: detail
                .iter()
                .take(MAX_FAILURE_DETAILS)
                .map(|(k, v)| {
                    let v: String = v
                        .chars()
                        .take(ingot_types::limits::MAX_TEXT_LEN / 4)
                        .collect();
                    (k.to_string(), v)
                })
                .collect(),
        }
    }

    /// This failure without detail.
    pub fn bare(self) -> Failure {
        self.with(&[])
    }
}

/// Declare a module's failure codes: `NAME = number, "name", "template";`.
#[macro_export]
macro_rules! failures {
    ($module:expr; $($(#[$doc:meta])* $konst:ident = $code:literal, $name:literal, $template:literal;)*) => {
        $($(#[$doc])* pub const $konst: $crate::failure::Code = $crate::failure::Code {
            module: $module,
            code: $code,
            name: $name,
            template: $template,
        };)*
        /// Every failure this module reports.
        pub const ALL: &[$crate::failure::Code] = &[$($konst),*];
    };
}

/// Failures of the executor's own checks (module `tx`) and of dispatch.
pub mod tx {
    crate::failures! { "tx";
        EXPIRED = 1, "expired", "expired: valid until height {valid_until}";
        WINDOW_TOO_LONG = 2, "window_too_long", "validity window longer than {max} blocks";
        REPLAY = 3, "replay", "replay: already included at height {height}";
        CERTIFICATE_REFUSED = 4, "certificate_refused", "certificate refused: {reason}";
        CERTIFICATE_EXPIRED = 5, "certificate_expired", "certificate expired";
        CERTIFICATE_NOT_YET_VALID = 6, "certificate_not_yet_valid", "certificate not yet valid";
        CERTIFICATE_REVOKED = 7, "certificate_revoked", "certificate revoked";
        WORK_EXCEEDED = 8, "work_exceeded", "work limit exceeded ({used} > {max})";
        UNKNOWN_MODULE = 9, "unknown_module", "unknown module `{module}`";
        UNKNOWN_METHOD = 10, "unknown_method", "unknown method {module}.{method}";
        MALFORMED_ARGUMENTS = 11, "malformed_arguments", "malformed arguments for {module}.{method}";
        CORRUPT_STATE = 12, "corrupt_state", "corrupt {what} in state";
        DEVICE_NOT_ALLOWED = 13, "device_not_allowed", "{detail}";
        NESTED_WORKFLOW = 14, "nested_workflow", "a service task may not call the workflow module";
    }
}

/// Every module's codes, for rendering and for the uniqueness test.
pub fn registry() -> impl Iterator<Item = &'static Code> {
    use crate::modules::{access, device, identity, notary, telemetry, workflow};
    [
        tx::ALL,
        identity::failures::ALL,
        notary::failures::ALL,
        device::failures::ALL,
        access::failures::ALL,
        telemetry::failures::ALL,
        workflow::failures::ALL,
    ]
    .into_iter()
    .flatten()
}

/// The declaration of a recorded failure, if this build knows it.
pub fn code_of(f: &Failure) -> Option<&'static Code> {
    registry().find(|c| c.module == f.module && c.code == f.code)
}

/// The message people read: the template with the detail filled in. An
/// unknown code (a receipt written by a newer version) still renders.
pub fn render(f: &Failure) -> String {
    let Some(code) = code_of(f) else {
        let detail: Vec<String> = f.detail.iter().map(|(k, v)| format!("{k}={v}")).collect();
        return format!("{} failure {} ({})", f.module, f.code, detail.join(", "));
    };
    let mut out = String::with_capacity(code.template.len() + 32);
    let mut rest = code.template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let key = &after[..close];
                out.push_str(f.get(key).unwrap_or("?"));
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The stable name of a failure (`module.name`), for APIs and clients.
pub fn name(f: &Failure) -> String {
    match code_of(f) {
        Some(c) => format!("{}.{}", c.module, c.name),
        None => format!("{}.{}", f.module, f.code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_templates_name_only_detail_fields() {
        let mut seen = std::collections::BTreeSet::new();
        let mut names = std::collections::BTreeSet::new();
        for c in registry() {
            assert!(
                seen.insert((c.module, c.code)),
                "{}:{} declared twice",
                c.module,
                c.code
            );
            assert!(
                names.insert((c.module, c.name)),
                "{}.{} declared twice",
                c.module,
                c.name
            );
            assert!(c.code > 0);
            assert_eq!(
                c.template.matches('{').count(),
                c.template.matches('}').count(),
                "{}",
                c.template
            );
        }
        assert!(seen.len() >= 60, "{} codes", seen.len());
    }

    #[test]
    fn rendering_fills_the_template() {
        let f = tx::REPLAY.with(&[("height", "7".into())]);
        assert_eq!(render(&f), "replay: already included at height 7");
        assert_eq!(name(&f), "tx.replay");
        let unknown = Failure {
            module: "future".into(),
            code: 9,
            detail: vec![("a".into(), "b".into())],
        };
        assert_eq!(render(&unknown), "future failure 9 (a=b)");
    }
}

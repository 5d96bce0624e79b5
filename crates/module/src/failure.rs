//! Failure codes (DESIGN.md decision 9): what a receipt hashes when a
//! transaction fails is `(module, code, detail)`; the message people read is
//! rendered from a template, outside consensus.
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
        VALUE_TOO_LARGE = 15, "value_too_large", "the call would store a value of {size} bytes, more than the {max} a state value may be";
    }
}

/// The code of `f` among `codes`, if declared there.
pub fn find<'a>(codes: impl IntoIterator<Item = &'a Code>, f: &Failure) -> Option<&'a Code> {
    codes
        .into_iter()
        .find(|c| c.module == f.module && c.code == f.code)
}

/// The stable name of a failure (`module.name`) given its declaration, or
/// `module.code` for a code this build does not know.
pub fn name(code: Option<&Code>, f: &Failure) -> String {
    match code {
        Some(c) => format!("{}.{}", c.module, c.name),
        None => format!("{}.{}", f.module, f.code),
    }
}

/// The message people read: the template with the detail filled in. An
/// unknown code (a receipt written by a newer version) still renders.
pub fn render(code: Option<&Code>, f: &Failure) -> String {
    let Some(code) = code else {
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

/// The stable name of one of a module's own failures (`codes` is that
/// module's `failures::ALL`). Event attributes carry it, so it is consensus
/// data: naming another module's failure this way is a bug.
pub fn own_name(codes: &'static [Code], f: &Failure) -> String {
    let code = find(codes, f);
    debug_assert!(
        code.is_some(),
        "{}:{} is not among these codes",
        f.module,
        f.code
    );
    name(code, f)
}

/// The message for one of a module's own failures.
pub fn own_render(codes: &'static [Code], f: &Failure) -> String {
    render(find(codes, f), f)
}

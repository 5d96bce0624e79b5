//! Failure codes (DESIGN.md decision 9) of every registered module: what a
//! receipt hashes when a transaction fails is `(module, code, detail)`; the
//! message people read is rendered here, outside consensus. The vocabulary
//! (`Code`, `failures!`, the executor's own `tx` codes) is in
//! [`ingot_module::failure`].

pub use ingot_module::failure::{tx, Code};
use ingot_types::Failure;

/// Every module's codes, for rendering and for the uniqueness test.
pub fn registry() -> impl Iterator<Item = &'static Code> {
    std::iter::once(tx::ALL)
        .chain(crate::registry::MODULES.iter().map(|m| m.failures()))
        .flatten()
}

/// The declaration of a recorded failure, if this build knows it.
pub fn code_of(f: &Failure) -> Option<&'static Code> {
    ingot_module::failure::find(registry(), f)
}

/// The message people read: the template with the detail filled in. An
/// unknown code (a receipt written by a newer version) still renders.
pub fn render(f: &Failure) -> String {
    ingot_module::failure::render(code_of(f), f)
}

/// The stable name of a failure (`module.name`), for APIs and clients.
pub fn name(f: &Failure) -> String {
    ingot_module::failure::name(code_of(f), f)
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

    /// A module reports only failures in its own name: the name is how a
    /// receipt's failure finds its template.
    #[test]
    fn each_module_declares_failures_under_its_own_name() {
        for m in crate::registry::MODULES {
            assert!(
                !m.failures().is_empty(),
                "{} declares no failures",
                m.name()
            );
            for c in m.failures() {
                assert_eq!(c.module, m.name(), "{}.{}", c.module, c.name);
            }
        }
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

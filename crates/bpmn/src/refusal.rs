//! Why the engine refuses a move: a stable [`RefusalKind`] a client can
//! act on (the workflow module turns it into a failure code) and a message
//! for people. A refused move changes nothing: the caller discards the
//! instance it was moving.

use std::fmt;

/// What kind of refusal: what the client did, or what the process met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    /// The instance has ended (completed, cancelled, terminated).
    NotRunning,
    /// The definition has no element of that id.
    UnknownElement,
    /// The element moves on its own, by a message or a timer, not by a person.
    NotAPersonTask,
    /// The task is not waiting in this instance.
    NotActive,
    /// The actor may not start, complete or cancel this.
    NotAllowed,
    /// The variables given are missing, unknown or of the wrong type
    /// (including a malformed `loopCounter`).
    BadVariables,
    /// The instance of a multi-instance activity named is not waiting.
    InstanceNotWaiting,
    /// The task needs its message before it can be completed.
    MessageMissing,
    /// The definition starts only by a chain event or a signal.
    NotStartable,
    /// The process itself could not move: an expression that cannot be
    /// evaluated, a bound reached, a decision table's rules in conflict.
    Process,
}

impl RefusalKind {
    /// Stable names (the failure codes' names).
    pub fn name(self) -> &'static str {
        match self {
            RefusalKind::NotRunning => "instance_not_running",
            RefusalKind::UnknownElement => "unknown_element",
            RefusalKind::NotAPersonTask => "not_a_person_task",
            RefusalKind::NotActive => "task_not_active",
            RefusalKind::NotAllowed => "not_allowed",
            RefusalKind::BadVariables => "bad_variables",
            RefusalKind::InstanceNotWaiting => "instance_not_waiting",
            RefusalKind::MessageMissing => "message_missing",
            RefusalKind::NotStartable => "not_startable",
            RefusalKind::Process => "engine_refused",
        }
    }
}

/// A refused move.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub message: String,
}

impl Refusal {
    pub fn new(kind: RefusalKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// What the process met while moving (the engine's internal steps report
/// text): [`RefusalKind::Process`].
impl From<String> for Refusal {
    fn from(message: String) -> Self {
        Self::new(RefusalKind::Process, message)
    }
}

impl From<&str> for Refusal {
    fn from(message: &str) -> Self {
        Self::new(RefusalKind::Process, message)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

/// The message, as text (what callers searched before refusals had kinds).
impl std::ops::Deref for Refusal {
    type Target = str;
    fn deref(&self) -> &str {
        &self.message
    }
}
